/**
 * The {@link ShardOwners} of the views a Rendezvous service is asked about, computed once per view and
 * shard count, then reused. Computing 65,536 shards over 300 peers is about 20 million hashes, a good
 * part of a second of CPU: done on every request of a server, a flood of requests stalled a pod for tens
 * of seconds (issue 11). Here:
 *
 * - one computation per (view, shard count), shared by every caller that asks meanwhile, kept among the
 *   most recently used {@link MAX_ENTRIES};
 * - computations run one at a time, in fibers of the cache's scope (a caller that gives up does not
 *   waste the work of the others; closing the scope interrupts them);
 * - a computation starts from the last one at the same shard count, so a change of membership costs
 *   only what it moves, and a full one gives the event loop a turn every few milliseconds, so that a
 *   server's probes and other requests keep being answered while it runs.
 *
 * Views are told apart by their ids (sameIds), not by a digest: the few entries are compared directly,
 * and no hash can collide.
 */
import { Deferred, Effect, Metric, Ref, type Scope, Semaphore } from "effect"
import * as Metrics from "../Metrics.js"
import * as ShardOwners from "../ShardOwners.js"
import { sameIds } from "./order.js"

/** Views and shard counts kept: the current view at a few shard counts, and the view before it. */
export const MAX_ENTRIES = 8

/** The cache of one service. */
export interface OwnersCache {
  /** The owners of the shards `0 … shards - 1` over `peers`: from the cache, or computed once. */
  readonly owners: (peers: ReadonlyArray<string>, shards: number) => Effect.Effect<ShardOwners.ShardOwners>
  /** How many computations ran since the cache was made (the rest were served from the cache). */
  readonly computations: Effect.Effect<number>
}

interface Entry {
  readonly peers: ReadonlyArray<string>
  readonly shards: number
  /** A deferred, so that callers arriving during the computation wait for it instead of starting another. */
  readonly owners: Deferred.Deferred<ShardOwners.ShardOwners>
}

/** Makes an empty cache; its computations run in the current scope. */
export const make: Effect.Effect<OwnersCache, never, Scope.Scope> = Effect.gen(function*() {
  const scope = yield* Effect.scope
  // In order of use: a hit moves its entry to the end, the first entry is evicted.
  const entries = yield* Ref.make<ReadonlyArray<Entry>>([])
  const oneAtATime = yield* Semaphore.make(1)
  const computations = yield* Ref.make(0)
  // Per shard count, the last owners computed: where the next view's computation starts from.
  const latest = yield* Ref.make<ReadonlyMap<number, ShardOwners.ShardOwners>>(new Map())

  const compute = (peers: ReadonlyArray<string>, shards: number) =>
    Ref.update(computations, (n) => n + 1).pipe(
      Effect.andThen(Metric.update(Metrics.ownershipComputations, 1)),
      Effect.andThen(Ref.get(latest)),
      Effect.flatMap((previous) =>
        // Effect.yieldNow resumes the fiber from a `setImmediate` (Effect 4's default scheduler), after Node
        // has polled for I/O: a probe's socket callbacks run between two steps (the test "lets I/O callbacks run").
        ShardOwners.compute(shards, peers, { previous: previous.get(shards), pause: Effect.yieldNow })
      ),
      Effect.tap((owners) => Ref.update(latest, (map) => new Map(map).set(shards, owners))),
      oneAtATime.withPermits(1)
    )

  // Uninterruptible: an entry once added has its computation started, or later callers would wait forever.
  const entryOf = (peers: ReadonlyArray<string>, shards: number) =>
    Effect.uninterruptible(Effect.gen(function*() {
      const deferred = yield* Deferred.make<ShardOwners.ShardOwners>()
      const [entry, created] = yield* Ref.modify(entries, (list) => {
        const found = list.find((e) => e.shards === shards && sameIds(e.peers, peers))
        // A copy of a caller's array, which it might change later; a PeerSet's are frozen.
        const entry = found ?? { peers: Object.isFrozen(peers) ? peers : [...peers], shards, owners: deferred }
        const next = [...list.filter((e) => e !== entry), entry].slice(-MAX_ENTRIES)
        return [[entry, found === undefined] as const, next]
      })
      // The computation itself stays interruptible: closing the scope stops it.
      if (created) {
        yield* Effect.interruptible(compute(peers, shards)).pipe(Deferred.into(entry.owners), Effect.forkIn(scope))
      }
      return entry
    }))

  const owners = (peers: ReadonlyArray<string>, shards: number) =>
    Effect.flatMap(entryOf(peers, shards), (entry) => Deferred.await(entry.owners))

  return { owners, computations: Ref.get(computations) }
})
