/**
 * The healing benchmark's cases on one running cluster (healing.ts makes it): a crash, a 2 s freeze of
 * one pod and a dead node (the partitions and the probe traffic: healingPartitions.ts), and what they share.
 * Each case samples every pod (cluster-sim's kube/ViewSampler) from just before it breaks something until the pods
 * agree again, and reads the timeline afterwards (kube/ViewTimeline); between cases the cluster
 * settles (every published pod answers with the same view of the published set, a disjoint cover of the
 * shards, nobody held down).
 */
import { awaitPublished, awaitSettled, livePods, publishedLabels } from "@miroir/cluster-sim/Cluster"
import type * as KubeCluster from "@miroir/cluster-sim/kube/KubeCluster"
import * as Placement from "@miroir/cluster-sim/kube/Placement"
import * as PodFreeze from "@miroir/cluster-sim/kube/PodFreeze"
import { Duration, Effect, Fiber } from "effect"
import {
  everyShardOwned,
  everyShardOwnedOnce,
  firstAt,
  heldDown,
  shardSeconds,
  type ShardSeconds,
  survivorsAgree
} from "@miroir/cluster-sim/kube/ViewTimeline"
import {
  type DetectorMetrics,
  readAll,
  readMetrics,
  type Sample,
  sample,
  type Sampling
} from "@miroir/cluster-sim/kube/ViewSampler"

/** The cluster a case runs on. */
export interface Bench {
  readonly cluster: KubeCluster.KubeCluster
  readonly namespace: string
  readonly shards: number
  /** The pods' refresh interval R. */
  readonly r: Duration.Duration
  /** The replicas the Deployment runs. */
  readonly pods: number
}

/** Whether every published pod answers with the published set, one digest, a disjoint cover, nobody down. */
export const isSettled = (sample: Sample, published: ReadonlyArray<string>, shards: number) => {
  const views = sample.pods.filter((pod) => published.includes(pod.label))
  return views.length === published.length
    && survivorsAgree(sample, published, published)
    && everyShardOwnedOnce({ ...sample, pods: views }, shards)
    && views.every((view) => view.down.length === 0 && !view.fenced)
}

/**
 * Waits until the cluster has settled after a case: every live pod ready, DNS publishing `pods` of them,
 * and the pods agreeing on them ({@link isSettled}), within 4R and never less than 60 s.
 */
export const settle = (bench: Bench, what: string): Effect.Effect<void, Error> =>
  Effect.gen(function*() {
    const patience = Math.max(60_000, 4 * Duration.toMillis(bench.r))
    yield* awaitSettled(bench.cluster, `${patience} millis`)
    yield* awaitPublished(bench.cluster, (labels) => labels.length === bench.pods, `${patience} millis`)
    const deadline = Date.now() + patience
    for (;;) {
      const published = yield* publishedLabels(bench.cluster)
      const now = yield* readAll(bench.cluster, bench.shards)
      if (isSettled(now, published, bench.shards)) return
      if (Date.now() > deadline) {
        return yield* Effect.fail(
          new Error(`${what}: the pods did not settle within ${patience} ms: ${JSON.stringify(now.pods)}`)
        )
      }
      yield* Effect.sleep(Duration.millis(250))
    }
  })

/** Waits until the sampling's latest sample satisfies `holds`; the time of that sample, or undefined at the deadline. */
export const awaitSample = (
  sampling: Sampling,
  holds: (sample: Sample) => boolean,
  timeoutMs: number
): Effect.Effect<number | undefined> =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const latest = yield* sampling.latest
      if (latest !== undefined && holds(latest)) return latest.at
      yield* Effect.sleep(Duration.millis(100))
    }
    return undefined
  })

const cordon = (bench: Bench, on: boolean) =>
  bench.cluster.kubectl([on ? "cordon" : "uncordon", ...bench.cluster.nodes.map((node) => node.name)])

/** One crash. */
export interface CrashTrial {
  /** From the SIGKILL to every survivor's effective view being the survivors, with one digest. */
  readonly agreeMs: number | undefined
  /** From the SIGKILL to DNS no longer publishing the pod. */
  readonly unlistedMs: number | undefined
  readonly gaps: ShardSeconds
}

/**
 * A crash of the `trial`-th pod: the nodes cordoned first, so that the pod's replacement (the harness's
 * crash deletes the pod, and its ReplicaSet replaces it) stays Pending while the survivors are timed. A
 * replacement that starts would send refresh hints on joining, which make the survivors look up DNS
 * (and so see the crash) however they detect failures: what is measured would be the replacement's
 * start, not the detection. Uncordoned once the survivors agree (or after 4R).
 */
export const crash = (bench: Bench, trial: number): Effect.Effect<CrashTrial, Error> =>
  Effect.gen(function*() {
    const pods = yield* livePods(bench.cluster)
    const victim = pods[trial % pods.length]!
    const survivors = pods.filter((pod) => pod.name !== victim.name).map((pod) => pod.label)
    yield* cordon(bench, true)
    // The survivors only: the crashed pod's reads would fail slowly (its address unreachable) and hold samples.
    const sampling = yield* sample(bench.cluster, bench.shards, undefined, (pod) => survivors.includes(pod.label))
    yield* Effect.sleep(Duration.millis(400))
    const unlisted = yield* Effect.forkChild(
      awaitPublished(bench.cluster, (labels) => !labels.includes(victim.label), "60 seconds").pipe(Effect.option)
    )
    const killedAt = Date.now()
    yield* bench.cluster.killPod(victim.name)
    const agreedAt = yield* awaitSample(
      sampling,
      (s) => s.at > killedAt && survivorsAgree(s, survivors, survivors),
      4 * Duration.toMillis(bench.r)
    )
    yield* Effect.sleep(Duration.millis(1000))
    const timeline = yield* sampling.stop
    const unlistedAt = yield* Fiber.join(unlisted)
    yield* cordon(bench, false)
    const survivor = (pod: { readonly label: string }) => survivors.includes(pod.label)
    const result: CrashTrial = {
      agreeMs: agreedAt === undefined ? undefined : agreedAt - killedAt,
      unlistedMs: unlistedAt._tag === "Some" ? unlistedAt.value - killedAt : undefined,
      gaps: shardSeconds(timeline, bench.shards, killedAt, (agreedAt ?? Date.now()) + 1000, survivor)
    }
    yield* settle(bench, `after crash ${trial + 1}`)
    return result
  })

/** The freezes of one pod at a time, and what the pods made of them. */
export interface FreezeTrials {
  readonly trials: number
  readonly freezeMs: number
  /** Increments of `miroir_peer_suspicions_total{result="down"}` over every pod during the trials. */
  readonly downIncrements: number
  /** The same for `result="suspected"` and `result="refuted"` (suspicions that a pause may cause, and clears). */
  readonly suspectedIncrements: number
  readonly refutedIncrements: number
  /** Trials in which some pod's `/peers` listed the frozen pod in `down`. */
  readonly trialsSeenDown: number
  /** Trials in which some pod's `/peers` listed it in `suspected`. */
  readonly trialsSeenSuspected: number
  /** Over every trial's window (the freeze and the 3 s after it). */
  readonly gaps: ShardSeconds
}

const sumMetrics = (all: ReadonlyArray<DetectorMetrics | undefined>) =>
  all.reduce(
    (t, m) => ({
      down: t.down + (m?.down ?? 0),
      suspected: t.suspected + (m?.suspected ?? 0),
      refuted: t.refuted + (m?.refuted ?? 0)
    }),
    { down: 0, suspected: 0, refuted: 0 }
  )

const metricsOfAll = (bench: Bench) =>
  Effect.flatMap(livePods(bench.cluster), (pods) => Effect.forEach(pods, readMetrics, { concurrency: "unbounded" }))

/**
 * `trials` freezes of `freezeMs` (2 s), a pod after another, each followed by 3 s for any suspicion to
 * clear (a longer gap than the suspicion timeout); the detector's counters before and after.
 */
export const freezes = (bench: Bench, trials: number, freezeMs = 2000): Effect.Effect<FreezeTrials, Error> =>
  Effect.gen(function*() {
    const before = sumMetrics(yield* metricsOfAll(bench))
    const pods = yield* livePods(bench.cluster)
    // The frozen pod is not read while it is frozen (it would hold each sample for the read's timeout): it
    // owns nothing meanwhile, as it would count when it did not answer.
    let frozenLabel: string | undefined
    const sampling = yield* sample(bench.cluster, bench.shards, undefined, (pod) => pod.label !== frozenLabel)
    const windows: Array<{ label: string; from: number; to: number }> = []
    const started = Date.now()
    for (let trial = 0; trial < trials; trial++) {
      const victim = pods[trial % pods.length]!
      const from = Date.now()
      frozenLabel = victim.label
      yield* Effect.scoped(
        Effect.flatMap(
          PodFreeze.freeze(bench.cluster, bench.namespace, victim.name),
          (frozen) => Effect.andThen(Effect.sleep(Duration.millis(freezeMs)), frozen.thaw)
        )
      ).pipe(Effect.ensuring(Effect.sync(() => {
        frozenLabel = undefined
      })))
      yield* Effect.sleep(Duration.millis(3000))
      windows.push({ label: victim.label, from, to: Date.now() })
    }
    const timeline = yield* sampling.stop
    const after = sumMetrics(yield* metricsOfAll(bench))
    const seen = (test: (s: Sample, label: string) => boolean) =>
      windows.filter((w) => timeline.some((s) => s.at >= w.from && s.at <= w.to && test(s, w.label))).length
    const result: FreezeTrials = {
      trials,
      freezeMs,
      downIncrements: after.down - before.down,
      suspectedIncrements: after.suspected - before.suspected,
      refutedIncrements: after.refuted - before.refuted,
      trialsSeenDown: seen(heldDown),
      trialsSeenSuspected: seen((s, label) => s.pods.some((pod) => pod.answered && pod.suspected.includes(label))),
      gaps: shardSeconds(timeline, bench.shards, started, Date.now())
    }
    yield* settle(bench, "after the freezes")
    return result
  })

/** The second node's failure. */
export interface DeadNodeRun {
  /** Pods per node just before the failure (evened out first: Placement.rebalance). */
  readonly placement: Readonly<Record<string, number>>
  readonly deadPods: number
  /** From the freeze to every shard owned by a pod that answers, then owned exactly once. */
  readonly ownedMs: number | undefined
  readonly ownedOnceMs: number | undefined
  /** From the freeze to the survivors' views being the survivors, with one digest. */
  readonly agreeMs: number | undefined
  /** From the freeze to DNS no longer publishing the dead node's pods (the node-lifecycle controller's doing). */
  readonly unlistedMs: number | undefined
  readonly gaps: ShardSeconds
}

/**
 * The second node fails as acceptance-node-failure has it: its kubelet stopped, its containers frozen,
 * once the pods are evened out over the nodes (the crashes before may have left them 4/2). Timed from the freeze, until every shard is owned once among the pods that answer and the survivors
 * agree (at most 3 min). The cluster is not healed afterwards: this case comes last.
 */
export const deadNode = (bench: Bench): Effect.Effect<DeadNodeRun, Error> =>
  Effect.gen(function*() {
    const dead = bench.cluster.nodes[1]
    if (dead === undefined) return yield* Effect.fail(new Error("a dead node needs two nodes"))
    const balanced = yield* Placement.rebalance(bench.cluster, bench.namespace)
    yield* settle(bench, "before the node failure")
    const where = yield* Placement.placement(bench.cluster, bench.namespace)
    const deadIps = where.filter((p) => p.node === dead.name).map((p) => p.ip)
    if (deadIps.length === 0) return yield* Effect.fail(new Error(`the scheduler put no pod on ${dead.name}`))
    const pods = yield* livePods(bench.cluster)
    const deadLabels = pods.filter((pod) => deadIps.includes(pod.ip)).map((pod) => pod.label)
    const survivors = pods.filter((pod) => !deadIps.includes(pod.ip)).map((pod) => pod.label)
    // The survivors only: the frozen pods answer nothing and own nothing, and reading them would hold every
    // sample for the read's timeout (seen: 1.2 s between samples instead of 0.2 s).
    const sampling = yield* sample(bench.cluster, bench.shards, undefined, (pod) => survivors.includes(pod.label))
    yield* Effect.sleep(Duration.millis(400))
    const unlisted = yield* Effect.forkChild(
      awaitPublished(bench.cluster, (labels) => labels.every((l) => !deadLabels.includes(l)), "3 minutes").pipe(
        Effect.option
      )
    )
    yield* dead.stopKubelet
    yield* dead.freeze
    const frozenAt = Date.now()
    const survivor = (pod: { readonly label: string }) => survivors.includes(pod.label)
    yield* awaitSample(
      sampling,
      (s) => everyShardOwnedOnce(s, bench.shards, survivor) && survivorsAgree(s, survivors, survivors),
      180_000
    )
    yield* Effect.sleep(Duration.millis(1000))
    const timeline = yield* sampling.stop
    const unlistedAt = yield* Fiber.join(unlisted).pipe(Effect.timeoutOption(Duration.seconds(1)))
    const since = (at: number | undefined) => (at === undefined ? undefined : at - frozenAt)
    return {
      placement: balanced,
      deadPods: deadLabels.length,
      ownedMs: since(firstAt(timeline, frozenAt, (s) => everyShardOwned(s, bench.shards))),
      ownedOnceMs: since(firstAt(timeline, frozenAt, (s) => everyShardOwnedOnce(s, bench.shards, survivor))),
      agreeMs: since(firstAt(timeline, frozenAt, (s) => survivorsAgree(s, survivors, survivors))),
      unlistedMs: unlistedAt._tag === "Some" && unlistedAt.value._tag === "Some" ?
        unlistedAt.value.value - frozenAt :
        undefined,
      gaps: shardSeconds(timeline, bench.shards, frozenAt, timeline.at(-1)?.at ?? Date.now())
    }
  })
