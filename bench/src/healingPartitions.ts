/**
 * The healing benchmark's partitions of one pod from the others (two-way and each one-way) and the
 * failure detector's probe traffic, on one running cluster (healing.ts makes it); the other cases and what
 * they share are healingCases.ts's.
 */
import { livePods, publishedLabels } from "@miroir/cluster-sim/Cluster"
import * as Partition from "@miroir/cluster-sim/kube/Partition"
import * as Placement from "@miroir/cluster-sim/kube/Placement"
import { Duration, Effect } from "effect"
import { firstAt, heldDown, shardSeconds, type ShardSeconds } from "@miroir/cluster-sim/kube/ViewTimeline"
import { readMetrics, sample } from "@miroir/cluster-sim/kube/ViewSampler"
import { awaitSample, type Bench, isSettled, settle } from "./healingCases.js"

/** Which partition: the pod cut both ways, the others unable to reach it, or it unable to reach them. */
export type PartitionKind = "twoWay" | "othersCannotReachIt" | "itCannotReachOthers"

/** One partition of a pod from the others. */
export interface PartitionRun {
  readonly kind: PartitionKind
  readonly cutMs: number
  /** Packets the partition's rules dropped (0: no pod tried to cross it). */
  readonly droppedPackets: number
  /** From the cut to some pod holding the cut pod down; undefined if none did. */
  readonly heldDownMs: number | undefined
  /** Whether the cut pod reported itself fenced at some sample. */
  readonly fenced: boolean
  /** From the heal to the pods settled again (same view, one owner per shard). */
  readonly healedMs: number | undefined
  /** During the cut, and from the cut to the settling after the heal. */
  readonly duringCut: ShardSeconds
  readonly total: ShardSeconds
}

/**
 * Cuts the first pod on the first node from every other pod for `cutMs` (about 10 s) as `kind` says,
 * then heals and waits for the pods to settle. The harness reads every pod from the node's address,
 * which no partition cuts: each pod's claims count throughout, which is what doubly owned shards are.
 */
export const partition = (bench: Bench, kind: PartitionKind, cutMs: number): Effect.Effect<PartitionRun, Error> =>
  Effect.gen(function*() {
    const pods = yield* livePods(bench.cluster)
    const where = yield* Placement.placement(bench.cluster, bench.namespace)
    const victim = pods.find((pod) => where.find((p) => p.name === pod.name)?.node === bench.cluster.nodes[0]!.name)
      ?? pods[0]!
    const others = pods.filter((pod) => pod.name !== victim.name).map((pod) => pod.ip)
    const sampling = yield* sample(bench.cluster, bench.shards)
    yield* Effect.sleep(Duration.millis(400))
    const published = yield* publishedLabels(bench.cluster)
    const networks = bench.cluster.nodes.map((node) => node.network)
    const cut = yield* Effect.scoped(
      Effect.gen(function*() {
        const made = yield* Partition.make({
          networks,
          direction: kind === "twoWay" ? "two-way" : "one-way",
          from: kind === "othersCannotReachIt" ? others : [victim.ip],
          to: kind === "othersCannotReachIt" ? [victim.ip] : others
        })
        yield* Effect.sleep(Duration.millis(cutMs))
        const dropped = yield* made.heal
        return { cutAt: made.cutAt, healedAt: Date.now(), dropped }
      })
    )
    const settledAt = yield* awaitSample(
      sampling,
      (s) => s.at > cut.healedAt && isSettled(s, published, bench.shards),
      Math.max(60_000, 4 * Duration.toMillis(bench.r))
    )
    const timeline = yield* sampling.stop
    const end = settledAt ?? Date.now()
    const heldAt = firstAt(timeline, cut.cutAt, (s) => s.at <= cut.healedAt && heldDown(s, victim.label))
    const result: PartitionRun = {
      kind,
      cutMs: cut.healedAt - cut.cutAt,
      droppedPackets: cut.dropped,
      heldDownMs: heldAt === undefined ? undefined : heldAt - cut.cutAt,
      fenced: timeline.some((s) => s.pods.some((pod) => pod.label === victim.label && pod.fenced)),
      healedMs: settledAt === undefined ? undefined : settledAt - cut.healedAt,
      duringCut: shardSeconds(timeline, bench.shards, cut.cutAt, cut.healedAt),
      total: shardSeconds(timeline, bench.shards, cut.cutAt, end)
    }
    yield* settle(bench, `after the partition (${kind})`)
    return result
  })

/** The detector's probes per pod per second, over a quiet window. */
export interface Traffic {
  readonly pods: number
  readonly windowMs: number
  /** Whether the pods export the detector's metrics (false: no detector, or it is off). */
  readonly present: boolean
  /** Mean and largest over the pods. */
  readonly sentPerSecond: number
  readonly sentPerSecondMax: number
  readonly receivedPerSecond: number
  readonly receivedPerSecondMax: number
}

/** Reads every pod's probe counters, waits `windowMs`, reads them again. */
export const traffic = (bench: Bench, windowMs: number): Effect.Effect<Traffic> =>
  Effect.gen(function*() {
    const pods = yield* livePods(bench.cluster)
    const before = yield* Effect.forEach(pods, readMetrics, { concurrency: "unbounded" })
    const from = Date.now()
    yield* Effect.sleep(Duration.millis(windowMs))
    const after = yield* Effect.forEach(pods, readMetrics, { concurrency: "unbounded" })
    const seconds = (Date.now() - from) / 1000
    const rates = pods.flatMap((_, i) => {
      const a = before[i]
      const b = after[i]
      return a === undefined || b === undefined ? [] : [{
        sent: (b.probesSent - a.probesSent) / seconds,
        received: (b.probesReceived - a.probesReceived) / seconds
      }]
    })
    const mean = (f: (r: { sent: number; received: number }) => number) =>
      rates.length === 0 ? 0 : rates.reduce((t, r) => t + f(r), 0) / rates.length
    return {
      pods: pods.length,
      windowMs: Date.now() - from,
      present: after.some((m) => m?.present === true),
      sentPerSecond: mean((r) => r.sent),
      sentPerSecondMax: Math.max(0, ...rates.map((r) => r.sent)),
      receivedPerSecond: mean((r) => r.received),
      receivedPerSecondMax: Math.max(0, ...rates.map((r) => r.received))
    }
  })
