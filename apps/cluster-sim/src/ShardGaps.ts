/**
 * Ownership over time, while the membership changes (a rolling update): every sample reads the owned
 * shards of every pod that answers, and the gaps are the stretches in which a shard was claimed by no
 * pod (work that nobody does) or by more than one (work done twice). The longest gap is what the
 * acceptance bounds; shard-seconds sum them up.
 *
 * Two readings of the same samples. The main one counts only live pods: a terminating pod owns nothing,
 * since what it may still be finishing is not work anyone can count on. {@link GapReport.claimed} also
 * counts terminating pods that still answer, with what they claim: a pod that is told of its deletion
 * (the chart's preStop hook) works on its shards until it resigns them, so this is the work nobody does.
 */
import type * as Client from "@miroir/pod-api/Client"
import { Duration, Effect, Fiber, Option, Ref, Schedule, SubscriptionRef } from "effect"
import { type Cluster, type ClusterPod, isLive } from "./Cluster.js"
import { ask } from "./Observer.js"

/** What the sampling measured. */
export interface GapReport {
  readonly samples: number
  /**
   * The longest time between two samples, in ms: the resolution of the gaps, since a stretch shorter than
   * this can fall between two samples unseen.
   */
  readonly longestBetweenSamplesMs: number
  /** The longest time one shard was owned by no pod, in ms. */
  readonly longestUnownedMs: number
  /** The longest time one shard was owned by two pods or more, in ms. */
  readonly longestMultiOwnedMs: number
  /** Summed over shards: seconds with no owner, and with more than one. */
  readonly unownedShardSeconds: number
  readonly multiOwnedShardSeconds: number
  /** The same, counting terminating pods that answer as owners of what they claim. */
  readonly claimed: Omit<GapReport, "samples" | "longestBetweenSamplesMs" | "claimed">
}

interface Streaks {
  /** When each shard's current stretch with no owner (or with several) began. */
  readonly unownedSince: ReadonlyMap<number, number>
  readonly multiSince: ReadonlyMap<number, number>
  readonly longestUnowned: number
  readonly longestMulti: number
  readonly unownedMs: number
  readonly multiMs: number
  readonly samples: number
  readonly longestBetween: number
  readonly lastAt: number | undefined
}

const initial: Streaks = {
  unownedSince: new Map(),
  multiSince: new Map(),
  longestUnowned: 0,
  longestMulti: 0,
  unownedMs: 0,
  multiMs: 0,
  samples: 0,
  longestBetween: 0,
  lastAt: undefined
}

/** The shards `pod` claims, none when it does not answer within a second. */
const ownedBy = (pod: ClusterPod, shards: number) =>
  ask(pod, (api) => api.ownership.ownership({ query: { shards } }), Duration.seconds(1)).pipe(
    Effect.map((answer) => answer.owned),
    Effect.option
  )

/** The stretches after one sample: where `isGap` holds of a shard, its stretch goes on or begins. */
const stretches = (
  since: ReadonlyMap<number, number>,
  counts: ReadonlyArray<number>,
  isGap: (count: number) => boolean,
  at: number
) => {
  const next = new Map<number, number>()
  let continued = 0
  counts.forEach((count, shard) => {
    if (!isGap(count)) return
    const began = since.get(shard)
    if (began === undefined) next.set(shard, at)
    else {
      next.set(shard, began)
      continued += 1
    }
  })
  const longest = Math.max(0, ...[...next.values()].map((began) => at - began))
  return { next, continued, longest }
}

/** Folds one sample (owner counts per shard, at `at`) into the streaks. */
const record = (streaks: Streaks, counts: ReadonlyArray<number>, at: number): Streaks => {
  const elapsed = streaks.lastAt === undefined ? 0 : at - streaks.lastAt
  const unowned = stretches(streaks.unownedSince, counts, (count) => count === 0, at)
  const multi = stretches(streaks.multiSince, counts, (count) => count > 1, at)
  return {
    unownedSince: unowned.next,
    multiSince: multi.next,
    longestUnowned: Math.max(streaks.longestUnowned, unowned.longest),
    longestMulti: Math.max(streaks.longestMulti, multi.longest),
    // A shard in a stretch since the previous sample adds the time between the two.
    unownedMs: streaks.unownedMs + unowned.continued * elapsed,
    multiMs: streaks.multiMs + multi.continued * elapsed,
    samples: streaks.samples + 1,
    longestBetween: Math.max(streaks.longestBetween, elapsed),
    lastAt: at
  }
}

/** The counts of one reading: how many pods claim each shard. */
const countClaims = (shards: number, claims: ReadonlyArray<ReadonlyArray<number>>): ReadonlyArray<number> => {
  const counts = Array.from({ length: shards }, () => 0)
  for (const claim of claims) {
    for (const shard of claim) counts[shard] = (counts[shard] ?? 0) + 1
  }
  return counts
}

const report = (s: Streaks): Omit<GapReport, "samples" | "longestBetweenSamplesMs" | "claimed"> => ({
  longestUnownedMs: s.longestUnowned,
  longestMultiOwnedMs: s.longestMulti,
  unownedShardSeconds: s.unownedMs / 1000,
  multiOwnedShardSeconds: s.multiMs / 1000
})

/**
 * Starts sampling the ownership of `shards` shards by the pods every `every`; the returned effect stops
 * the sampling and reports. A pod that does not answer counts as owning nothing; a terminating one, in
 * the main reading only (see the module's comment).
 */
export const sample = (
  cluster: Cluster,
  shards: number,
  every: Duration.Input
): Effect.Effect<Effect.Effect<GapReport>, never, Client.PodClient> =>
  Effect.gen(function*() {
    const streaks = yield* Ref.make({ live: initial, claimed: initial })
    const once = Effect.gen(function*() {
      const pods = (yield* SubscriptionRef.get(cluster.pods)).filter((pod) => pod.phase !== "Gone")
      const owned = yield* Effect.forEach(pods, (pod) => ownedBy(pod, shards), { concurrency: "unbounded" })
      const answers = pods.flatMap((pod, i) =>
        Option.match(owned[i]!, { onNone: () => [], onSome: (claim) => [{ pod, claim }] })
      )
      const live = countClaims(shards, answers.filter(({ pod }) => isLive(pod)).map(({ claim }) => claim))
      const claimed = countClaims(shards, answers.map(({ claim }) => claim))
      const at = Date.now()
      yield* Ref.update(streaks, (s) => ({ live: record(s.live, live, at), claimed: record(s.claimed, claimed, at) }))
    })
    const fiber = yield* Effect.forkChild(Effect.repeat(once, Schedule.spaced(every)))
    return Effect.gen(function*() {
      yield* Fiber.interrupt(fiber)
      const { claimed, live } = yield* Ref.get(streaks)
      return {
        samples: live.samples,
        longestBetweenSamplesMs: live.longestBetween,
        ...report(live),
        claimed: report(claimed)
      } satisfies GapReport
    })
  })
