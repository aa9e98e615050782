/**
 * Ownership over time, while the membership changes (a rolling update): every sample reads the owned
 * shards of every pod that answers, and the gaps are the stretches in which a shard was claimed by no
 * pod (work that nobody does) or by more than one (work done twice). The longest gap is what the
 * acceptance bounds; shard-seconds sum them up.
 */
import { Duration, Effect, Fiber, Ref, Schedule } from "effect"
import { type Cluster, livePods } from "./Cluster.js"

/** What the sampling measured. */
export interface GapReport {
  readonly samples: number
  /** The longest time one shard was owned by no pod, in ms. */
  readonly longestUnownedMs: number
  /** The longest time one shard was owned by two pods or more, in ms. */
  readonly longestMultiOwnedMs: number
  /** Summed over shards: seconds with no owner, and with more than one. */
  readonly unownedShardSeconds: number
  readonly multiOwnedShardSeconds: number
}

interface Streaks {
  readonly unownedSince: Map<number, number>
  readonly multiSince: Map<number, number>
  longestUnowned: number
  longestMulti: number
  unownedMs: number
  multiMs: number
  samples: number
  lastAt: number | undefined
}

const ownedBy = (url: string, shards: number) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${url}/ownership?shards=${shards}`, { signal: AbortSignal.timeout(1_000) })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return ((await response.json()) as { owned: ReadonlyArray<number> }).owned
  }).pipe(Effect.option)

/** Folds one sample (owner counts per shard, at `at`) into the streaks. */
const record = (streaks: Streaks, counts: ReadonlyArray<number>, at: number) => {
  const elapsed = streaks.lastAt === undefined ? 0 : at - streaks.lastAt
  counts.forEach((count, shard) => {
    for (const [since, isGap, add] of [
      [streaks.unownedSince, count === 0, (ms: number) => (streaks.unownedMs += ms)],
      [streaks.multiSince, count > 1, (ms: number) => (streaks.multiMs += ms)]
    ] as const) {
      if (isGap) {
        if (!since.has(shard)) since.set(shard, at)
        else add(elapsed)
      } else since.delete(shard)
    }
  })
  for (const since of streaks.unownedSince.values()) streaks.longestUnowned = Math.max(streaks.longestUnowned, at - since)
  for (const since of streaks.multiSince.values()) streaks.longestMulti = Math.max(streaks.longestMulti, at - since)
  streaks.samples += 1
  streaks.lastAt = at
}

/**
 * Starts sampling the pods' ownership of `shards` shards every `every`; the returned effect stops the
 * sampling and reports. Pods that do not answer count as owning nothing (a terminating pod that still
 * answers still counts: its process may still do the work).
 */
export const sample = (cluster: Cluster, shards: number, every: Duration.DurationInput) =>
  Effect.gen(function*() {
    const streaks = yield* Ref.make<Streaks>({
      unownedSince: new Map(),
      multiSince: new Map(),
      longestUnowned: 0,
      longestMulti: 0,
      unownedMs: 0,
      multiMs: 0,
      samples: 0,
      lastAt: undefined
    })
    const once = Effect.gen(function*() {
      const pods = yield* livePods(cluster)
      const owned = yield* Effect.forEach(pods, (pod) => ownedBy(pod.url, shards), { concurrency: "unbounded" })
      const counts = Array.from({ length: shards }, () => 0)
      for (const claim of owned) if (claim._tag === "Some") for (const shard of claim.value) counts[shard] = (counts[shard] ?? 0) + 1
      const at = Date.now()
      yield* Ref.update(streaks, (s) => (record(s, counts, at), s))
    })
    const fiber = yield* Effect.fork(Effect.repeat(once, Schedule.spaced(every)))
    return Effect.gen(function*() {
      yield* Fiber.interrupt(fiber)
      const s = yield* Ref.get(streaks)
      return {
        samples: s.samples,
        longestUnownedMs: s.longestUnowned,
        longestMultiOwnedMs: s.longestMulti,
        unownedShardSeconds: s.unownedMs / 1000,
        multiOwnedShardSeconds: s.multiMs / 1000
      } satisfies GapReport
    })
  })
