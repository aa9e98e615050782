/**
 * Rolling updates on real Kubernetes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a real
 * node — kubelet, containerd, runc, kube-proxy — running the image built from the Dockerfile, CoreDNS,
 * Helm: apps/cluster-sim's KubeCluster), with and without refresh hints: 6 pods
 * installed with `helm install` of the chart, then `helm upgrade` changing the pod template, rolled by
 * the Deployment controller one pod at a time (maxSurge 1, maxUnavailable 0, as on the simulator; the
 * chart's default is Kubernetes', 25% surge and unavailable: two new pods at a time here).
 * Measured while it rolls, as the acceptance samples it:
 *
 * - from the rollout's completion (`kubectl rollout status`) to every pod agreeing on its set and its
 *   shards (Observer.awaitConverged), and per change of what DNS publishes, the time until every
 *   published pod lists exactly the published set;
 * - shard-seconds with no owner and with more than one (ShardGaps, every pod's /ownership);
 * - shard moves against the minimum (shardMoves).
 *
 * Each setting gets a fresh cluster (hints on, then off through the chart's `peerHints.enabled`): an
 * upgrade from one setting to the other would itself be a rollout of mixed pods, and a fresh cluster
 * starts in seconds. CoreDNS runs kubeadm's Corefile, which caches nothing of cluster.local (behind a
 * cache of it, such as NodeLocal DNSCache's 30 s, no hint could be seen sooner). Without the components
 * (scripts/install-test-deps.sh) or root (a real node's bridges, mounts and cgroups) it is skipped, never
 * failed.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitConverged } from "@miroir/cluster-sim/Observer"
import { awaitPublished, awaitSettled, livePods, publishedLabels } from "@miroir/cluster-sim/Cluster"
import * as Image from "@miroir/cluster-sim/kube/Image"
import * as KubeCluster from "@miroir/cluster-sim/kube/KubeCluster"
import * as ShardGaps from "@miroir/cluster-sim/ShardGaps"
import * as Client from "@miroir/pod-api/Client"
import { whyNoRealNode } from "./realNode.js"
import { Duration, Effect, type Scope } from "effect"
import * as RolloutWatch from "./rolloutWatch.js"
import { gained, ownerChanges } from "./shardMoves.js"
import { quantile } from "./stats.js"

/** The Deployment's replicas. */
export const PODS = 6
/** Shards audited by the sampling (any count: /ownership?shards= computes them). */
export const SHARDS = 256
/** Between two reads of every pod's view, and of every pod's shards: gentle on a 2-core machine. */
const POLL = Duration.millis(200)
const RELEASE = "miroir"
const NAMESPACE = "default"

/** One rolling update's measurements. */
export interface KubeRolloutRun {
  readonly intervalMs: number
  readonly hints: boolean
  /** NodeLocal DNSCache between the pods and CoreDNS (its 30 s cache of cluster.local), or kubeadm's DNS alone. */
  readonly nodeLocalCache: boolean
  readonly pods: number
  /** From `helm upgrade` to `kubectl rollout status` returning, in ms. */
  readonly rolloutMs: number
  /** From the rollout's completion to every pod agreeing on its set and shards, in ms. */
  readonly agreedAfterMs: number
  /** Per change of what DNS publishes: ms until every published pod listed exactly the published set. */
  readonly agreeMs: ReadonlyArray<number>
  readonly unownedShardSeconds: number
  readonly doubleOwnedShardSeconds: number
  readonly longestUnownedMs: number
  readonly longestDoubleOwnedMs: number
  /**
   * The same, counting Terminating pods that still answer as owners of what they claim (ShardGaps'
   * `claimed`): a deleted pod works on its shards until it resigns them.
   */
  readonly claimedUnownedShardSeconds: number
  readonly claimedDoubleOwnedShardSeconds: number
  readonly moves: number
  readonly minimumMoves: number
  /** Ownership samples taken while it rolled. */
  readonly samples: number
}

/** What the benchmark did: skipped (components missing, named) or measured. */
export type Outcome =
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Measured"; readonly runs: ReadonlyArray<KubeRolloutRun> }

/** How one run is set: the pods' R, refresh hints, and whether NodeLocal DNSCache caches cluster.local. */
export interface Setting {
  readonly r: Duration.Duration
  readonly hints: boolean
  readonly nodeLocalCache: boolean
}

/** One rolling update as `setting` says, on a fresh cluster whose files go in `folder`. */
const measure = (
  { hints, nodeLocalCache, r }: Setting,
  folder: string,
  image: Image.MiroirImage
): Effect.Effect<KubeRolloutRun, Error, Client.PodClient | Scope.Scope> =>
  Effect.gen(function*() {
    const cluster = yield* KubeCluster.make({
      folder,
      image,
      release: RELEASE,
      namespace: NAMESPACE,
      replicas: PODS,
      refreshInterval: r,
      peerHints: hints,
      nodeLocalCache,
      values: { strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }
    })
    yield* awaitSettled(cluster, "120 seconds")
    yield* awaitPublished(cluster, (labels) => labels.length === PODS, "120 seconds")
    yield* awaitConverged(cluster, SHARDS, r, "the first pods")

    // What DNS publishes, change by change, and every published pod's view every POLL.
    const stopWatching = yield* RolloutWatch.watch(cluster, POLL)
    const gaps = yield* ShardGaps.sample(cluster, SHARDS, POLL)
    const initial = yield* publishedLabels(cluster)

    const started = Date.now()
    const completed = yield* cluster.rollOut({ timeout: "300s" })
    yield* awaitSettled(cluster, "60 seconds")
    const agreed = yield* awaitConverged(cluster, SHARDS, r, "every pod to agree after the rolling update")
    yield* Effect.sleep(Duration.millis(300))
    const report = yield* gaps
    const { agreements, events, views } = yield* stopWatching

    const agreeMs: Array<number> = []
    let previous = initial
    let minimumMoves = 0
    for (const event of events) {
      const agreedAt = agreements.find((at) => at >= event.at)
      if (agreedAt !== undefined) agreeMs.push(agreedAt - event.at)
      minimumMoves += ownerChanges(SHARDS, previous, event.labels)
      previous = event.labels
    }
    return {
      intervalMs: Duration.toMillis(r),
      hints,
      nodeLocalCache,
      pods: (yield* livePods(cluster)).length,
      rolloutMs: completed - started,
      agreedAfterMs: Math.max(0, agreed - completed),
      agreeMs,
      unownedShardSeconds: report.unownedShardSeconds,
      doubleOwnedShardSeconds: report.multiOwnedShardSeconds,
      longestUnownedMs: report.longestUnownedMs,
      longestDoubleOwnedMs: report.longestMultiOwnedMs,
      claimedUnownedShardSeconds: report.claimed.unownedShardSeconds,
      claimedDoubleOwnedShardSeconds: report.claimed.multiOwnedShardSeconds,
      moves: gained(SHARDS, initial, views),
      minimumMoves,
      samples: report.samples
    } satisfies KubeRolloutRun
  })

/**
 * {@link measure} in a folder of its own, removed once the cluster has stopped; kept when the run fails:
 * its logs (pods, control plane) are what explains it.
 */
const rollOnce = (
  setting: Setting,
  image: Image.MiroirImage
): Effect.Effect<KubeRolloutRun, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const folder = mkdtempSync(join(tmpdir(), "miroir-bench-kube-rollout-"))
    const run = yield* Effect.scoped(measure(setting, folder, image)).pipe(
      Effect.tapError(() => Effect.sync(() => console.error(`  the run's files are kept in ${folder}`)))
    )
    rmSync(folder, { recursive: true, force: true })
    return run
  })

/**
 * The settings run, in order: at R = 4 s (the acceptance's) three pairs, hints on then off, so that the
 * machine's load falls on both alike (one pair when quick); at R = 15 s (production) one pair; then a pair at
 * 4 s behind NodeLocal DNSCache, whose 30 s cache of cluster.local is what the DNS-only runs do not have
 * (issue 20: convergence with and without it), and the hinted run at 15 s behind it. Quick: the two pairs
 * at 4 s only.
 */
const plan = (quick: boolean): ReadonlyArray<Setting> => {
  const pair = (r: Duration.Duration, nodeLocalCache: boolean): ReadonlyArray<Setting> =>
    [true, false].map((hints) => ({ r, hints, nodeLocalCache }))
  const four = Duration.seconds(4)
  const fifteen = Duration.seconds(15)
  return quick
    ? [...pair(four, false), ...pair(four, true)]
    : [
      ...pair(four, false),
      ...pair(four, false),
      ...pair(four, false),
      ...pair(fifteen, false),
      ...pair(four, true),
      { r: fifteen, hints: true, nodeLocalCache: true }
    ]
}

/**
 * Runs the rolling updates on real components ({@link plan}), with the image built once; skipped when the
 * components are not built or the process is not root.
 */
export const run = (quick: boolean): Effect.Effect<Outcome, Error> =>
  Effect.suspend(() => {
    const unavailable = whyNoRealNode()
    if (unavailable !== undefined) return Effect.succeed<Outcome>({ _tag: "Skipped", reason: unavailable })
    return Effect.flatMap(Image.build(), (image) =>
      Effect.forEach(plan(quick), (setting) =>
        rollOnce(setting, image).pipe(
          Effect.tap((run) =>
            Effect.sync(() =>
              console.log(
                `  real cluster, R=${Duration.format(setting.r)} hints ${setting.hints ? "on" : "off"}${
                  setting.nodeLocalCache ? ", NodeLocal DNSCache" : ""
                }: ${JSON.stringify(summarize([run]))}`
              )
            )
          )
        ))).pipe(
        Effect.map((runs): Outcome => ({ _tag: "Measured", runs })),
        Effect.provide(Client.layerFetch)
      )
  })

/** The figures of the runs of one interval and hints setting, pooled (shard-seconds and moves: means). */
export const summarize = (runs: ReadonlyArray<KubeRolloutRun>) => {
  const agree = runs.flatMap((run) => run.agreeMs)
  const mean = (f: (run: KubeRolloutRun) => number) => runs.reduce((total, run) => total + f(run), 0) / runs.length
  const after = runs.map((run) => run.agreedAfterMs)
  return {
    trials: runs.length,
    pods: PODS,
    shards: SHARDS,
    rolloutMs: quantile(runs.map((run) => run.rolloutMs), 0.5),
    agreedAfterMs: quantile(after, 0.5),
    agreedAfterMaxMs: Math.max(...after),
    agreeP50Ms: quantile(agree, 0.5),
    agreeP99Ms: quantile(agree, 0.99),
    agreeMaxMs: Math.max(...agree),
    changes: agree.length,
    unownedShardSeconds: mean((run) => run.unownedShardSeconds),
    doubleOwnedShardSeconds: mean((run) => run.doubleOwnedShardSeconds),
    longestUnownedMs: Math.max(...runs.map((run) => run.longestUnownedMs)),
    longestDoubleOwnedMs: Math.max(...runs.map((run) => run.longestDoubleOwnedMs)),
    claimedUnownedShardSeconds: mean((run) => run.claimedUnownedShardSeconds),
    claimedDoubleOwnedShardSeconds: mean((run) => run.claimedDoubleOwnedShardSeconds),
    moves: mean((run) => run.moves),
    minimumMoves: mean((run) => run.minimumMoves),
    samples: runs.reduce((total, run) => total + run.samples, 0)
  }
}
