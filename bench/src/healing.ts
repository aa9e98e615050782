/**
 * Healing on real Kubernetes (issue 22, "Heal in seconds"): 6 pods of the image built from the Dockerfile
 * on two real nodes (KubeCluster, `nodes: 2`), R = 15 s, refresh hints on (the chart's default), broken on
 * purpose, once with the pods' failure detector off (`peerHealth.probeInterval: off`: DNS alone decides,
 * the baseline) and once with the chart's defaults, each on a fresh cluster in the same run:
 *
 * - probe traffic per pod over a quiet window (the detector's metrics);
 * - crashes (SIGKILL, the harness's crash, with the nodes cordoned so that no replacement starts):
 *   time until every survivor agrees;
 * - 2 s freezes of one pod (PodFreeze): false suspicions;
 * - partitions of one pod (Partition): two-way, and one-way either way, ~10 s each;
 * - last, a dead node (kubelet stopped, containers frozen, as acceptance-node-failure does): time until
 *   every shard is owned again.
 *
 * Every case's unowned and doubly owned shard-seconds come from every pod's `/ownership` sampled every
 * 200 ms (cluster-sim's kube/ViewSampler). Without the components or root it is skipped, never failed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { awaitPublished, awaitSettled } from "@miroir/cluster-sim/Cluster"
import * as Image from "@miroir/cluster-sim/kube/Image"
import * as KubeCluster from "@miroir/cluster-sim/kube/KubeCluster"
import * as Placement from "@miroir/cluster-sim/kube/Placement"
import { whyNoRealNode } from "./realNode.js"
import { Duration, Effect, type Scope } from "effect"
import * as Cases from "./healingCases.js"
import * as Partitions from "./healingPartitions.js"

/** The Deployment's replicas. */
export const PODS = 6
/** Shards the pods are asked about (any count: /ownership?shards= computes them). */
export const SHARDS = 256
/** The pods' refresh interval: production's. */
export const R = Duration.seconds(15)
/** Issue 22's target for the detector: a crash agreed by every survivor within it (p99). */
export const CRASH_AGREE_TARGET_MS = 2_000
/** Issue 22's target for the detector: a dead node's shards owned again within it after the freeze. */
export const DEAD_NODE_TARGET_MS = 5_000
/** How long a partition lasts. */
const CUT_MS = 10_000
const RELEASE = "miroir"
const NAMESPACE = "default"

/** How many trials of each case. */
export interface Trials {
  readonly crashes: number
  readonly freezes: number
  readonly trafficWindowMs: number
}

/** Quick: what fits in a few minutes per cluster; full: 8 crashes and the 20 freezes. */
export const trials = (quick: boolean): Trials =>
  quick
    ? { crashes: 3, freezes: 5, trafficWindowMs: 10_000 }
    : { crashes: 8, freezes: 20, trafficWindowMs: 30_000 }

/** One setting's measurements, on one cluster. */
export interface HealingRun {
  /** The detector as the chart was asked to run it: off (baseline) or the chart's defaults. */
  readonly detector: "off" | "on"
  /** Whether the chart knows `peerHealth` at all (before issue 22's detector, both settings are the baseline). */
  readonly chartHasDetector: boolean
  /** Pods per node, as the scheduler put them. */
  readonly placement: Readonly<Record<string, number>>
  readonly traffic: Partitions.Traffic
  readonly crashes: ReadonlyArray<Cases.CrashTrial>
  readonly freezes: Cases.FreezeTrials
  readonly partitions: ReadonlyArray<Partitions.PartitionRun>
  readonly deadNode: Cases.DeadNodeRun
  /** The machine's 1-minute load average at the start and the end of the cluster's run. */
  readonly loadAverage: { readonly start: number; readonly end: number }
  readonly description: string
}

/** What the benchmark did: skipped (components missing, named) or measured. */
export type Outcome =
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Measured"; readonly runs: ReadonlyArray<HealingRun>; readonly trials: Trials }

/** Whether the chart's values schema knows `peerHealth` (it refuses unknown keys). */
export const chartHasDetector = (): boolean => {
  const schema = join(KubeCluster.CHART, "values.schema.json")
  if (!existsSync(schema)) return false
  const parsed = JSON.parse(readFileSync(schema, "utf8")) as { properties?: Record<string, unknown> }
  return parsed.properties?.["peerHealth"] !== undefined
}

const log = (text: string) => Effect.sync(() => console.log(`  ${text}`))

/** Every case on a fresh cluster with the detector `detector`, whose files go in `folder`. */
const measure = (
  detector: "off" | "on",
  folder: string,
  image: Image.MiroirImage,
  counts: Trials
): Effect.Effect<HealingRun, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const known = chartHasDetector()
    const loadStart = loadavg()[0]!
    const cluster = yield* KubeCluster.make({
      folder,
      image,
      release: RELEASE,
      namespace: NAMESPACE,
      replicas: PODS,
      refreshInterval: R,
      nodes: 2,
      // The chart's own defaults when on; `off` only where the chart knows the key (it refuses unknown ones).
      ...(known && detector === "off" ? { values: { peerHealth: { probeInterval: "off" } } } : {})
    })
    const bench: Cases.Bench = { cluster, namespace: NAMESPACE, shards: SHARDS, r: R, pods: PODS }
    yield* awaitSettled(cluster, "180 seconds")
    yield* awaitPublished(cluster, (labels) => labels.length === PODS, "120 seconds")
    yield* Cases.settle(bench, "the first pods")
    const placement = Placement.podsPerNode(cluster, yield* Placement.placement(cluster, NAMESPACE))
    yield* log(`detector ${detector}: pods per node ${JSON.stringify(placement)}`)

    const traffic = yield* Partitions.traffic(bench, counts.trafficWindowMs)
    yield* log(`probe traffic: ${JSON.stringify(traffic)}`)
    const crashes = yield* Effect.forEach(
      Array.from({ length: counts.crashes }, (_, i) => i),
      (i) => Effect.tap(Cases.crash(bench, i), (t) => log(`crash ${i + 1}: ${JSON.stringify(t)}`))
    )
    const freezes = yield* Cases.freezes(bench, counts.freezes)
    yield* log(`freezes: ${JSON.stringify(freezes)}`)
    const partitions = yield* Effect.forEach(
      ["twoWay", "othersCannotReachIt", "itCannotReachOthers"] as const,
      (kind) => Effect.tap(Partitions.partition(bench, kind, CUT_MS), (p) => log(`partition: ${JSON.stringify(p)}`))
    )
    const deadNode = yield* Cases.deadNode(bench)
    yield* log(`dead node: ${JSON.stringify(deadNode)}`)
    return {
      detector,
      chartHasDetector: known,
      placement,
      traffic,
      crashes,
      freezes,
      partitions,
      deadNode,
      loadAverage: { start: loadStart, end: loadavg()[0]! },
      description: cluster.description
    } satisfies HealingRun
  })

/** {@link measure} in a folder of its own, removed once the cluster has stopped; kept when it fails. */
const measureOnce = (detector: "off" | "on", image: Image.MiroirImage, counts: Trials) =>
  Effect.gen(function*() {
    const folder = mkdtempSync(join(tmpdir(), "miroir-bench-healing-"))
    const run = yield* Effect.scoped(measure(detector, folder, image, counts)).pipe(
      Effect.tapError(() => Effect.sync(() => console.error(`  the run's files are kept in ${folder}`)))
    )
    // What a slow trial leaves to read: every pod's log (pods/), with when each learned of a crash and
    // whom it told.
    const slow = run.crashes.filter((t) => (t.agreeMs ?? Infinity) >= CRASH_AGREE_TARGET_MS).length
    if (detector === "on" && (slow > 0 || (run.deadNode.ownedMs ?? Infinity) >= DEAD_NODE_TARGET_MS)) {
      yield* log(`a target was missed (${slow} slow crashes): the run's files are kept in ${folder}`)
    } else rmSync(folder, { recursive: true, force: true })
    return run
  })

/**
 * Runs every case with the detector off, then on (each on a fresh cluster, the image built once);
 * skipped when the components are not built or the process is not root.
 */
export const run = (quick: boolean): Effect.Effect<Outcome, Error> =>
  Effect.suspend(() => {
    const unavailable = whyNoRealNode()
    if (unavailable !== undefined) return Effect.succeed<Outcome>({ _tag: "Skipped", reason: unavailable })
    const counts = trials(quick)
    return Effect.flatMap(Image.build(), (image) =>
      Effect.forEach(["off", "on"] as const, (detector) => measureOnce(detector, image, counts))).pipe(
        Effect.map((runs): Outcome => ({ _tag: "Measured", runs, trials: counts }))
      )
  })
