/**
 * The owner of every shard of a view, computed once per view and shard count, then reused. Computing
 * 65,536 shards over 300 peers is about 20 million hashes, a good part of a second of CPU: done on
 * every `GET /ownership`, a flood of requests stalled the pod for tens of seconds (issue 11). Here:
 *
 * - one computation per (view, shard count), shared by every caller that asks meanwhile, kept in a
 *   small cache of the most recently used {@link MAX_ENTRIES};
 * - computations run one at a time, in fibers of the layer's scope (a caller that gives up does not
 *   waste the work of the others; shutdown interrupts them);
 * - a computation starts from the last one at the same shard count, so a change of membership costs
 *   only what it moves (`Rendezvous.shardTable`), and a full one gives the event loop a turn every few
 *   milliseconds, so `/healthz` and the other requests keep being answered while it runs.
 */
import { createHash } from "node:crypto"
import { Rendezvous } from "@miroir/peer-discovery"
import { Context, Deferred, Effect, Layer, Metric, Ref, type Scope, Semaphore } from "effect"
import * as AppMetrics from "./AppMetrics.js"
import { yieldToEventLoop } from "./internal/eventLoop.js"

/** The owner of every shard of one view. */
export interface Owners {
  /** The view, sorted as a PeerSet's peers. */
  readonly peers: ReadonlyArray<string>
  /** The shard count: shards are `0 … shards - 1`. */
  readonly shards: number
  /** `owner[shard]` is the position in {@link peers} of the shard's owner. */
  readonly owner: Int32Array
}

/** Views and shard counts kept: the current view at a few shard counts, and the view before it. */
export const MAX_ENTRIES = 8

/** What the cache offers. */
export interface Service {
  /** The owners of the shards `0 … shards - 1` over `peers` (sorted): from the cache, or computed once. */
  readonly owners: (peers: ReadonlyArray<string>, shards: number) => Effect.Effect<Owners>
  /** How many computations ran since the start (the rest were served from the cache). */
  readonly computations: Effect.Effect<number>
}

/** The cache as a service. */
export class OwnershipCache extends Context.Service<OwnershipCache, Service>()("@miroir/miroir/OwnershipCache") {}

const ownedMemo = new WeakMap<Owners, Map<string, ReadonlyArray<number>>>()

/** The shards `id` owns in `owners`, ascending; memoised per (owners, id), so callers may share the array. */
export const ownedBy = (owners: Owners, id: string): ReadonlyArray<number> => {
  let byId = ownedMemo.get(owners)
  if (byId === undefined) ownedMemo.set(owners, byId = new Map())
  const memoised = byId.get(id)
  if (memoised !== undefined) return memoised
  const index = owners.peers.indexOf(id)
  const owned: Array<number> = []
  if (index >= 0) {
    for (let shard = 0; shard < owners.shards; shard++) if (owners.owner[shard] === index) owned.push(shard)
  }
  // A pod asks about itself and maybe one or two others: bounded by the callers, not by the requests.
  byId.set(id, owned)
  return owned
}

const viewKeys = new WeakMap<ReadonlyArray<string>, string>()

/** The full SHA-256 of a view: the cache key must not collide, unlike the short digest shown to people. */
const viewKey = (peers: ReadonlyArray<string>): string => {
  let key = viewKeys.get(peers)
  if (key === undefined) viewKeys.set(peers, key = createHash("sha256").update(peers.join("\n")).digest("hex"))
  return key
}

/**
 * The library's table of the owners, from `previous` (the last table at this shard count) when given:
 * a change of a few peers then touches only what it moves (milliseconds at 65,536 shards). The
 * computation gives the event loop a turn every few milliseconds of CPU.
 */
const tableOf = (peers: ReadonlyArray<string>, shards: number, previous?: Rendezvous.ShardTable) =>
  Rendezvous.shardTable(shards, peers, { previous, pause: yieldToEventLoop })

/** Computes the owners (as {@link Service.owners} does on a miss, without a previous view to start from). */
export const compute = (peers: ReadonlyArray<string>, shards: number): Effect.Effect<Owners> =>
  Effect.map(tableOf(peers, shards), (table) => ({ peers, shards, owner: table.owner }))

/** Builds the cache; its computations run in the current scope. */
export const make: Effect.Effect<Service, never, Scope.Scope> = Effect.gen(function*() {
  const scope = yield* Effect.scope
  // Deferreds, so that callers arriving during a computation wait for it instead of starting another.
  // Insertion order is recency: a hit moves its entry to the end, the first entry is evicted.
  const entries = yield* Ref.make<ReadonlyMap<string, Deferred.Deferred<Owners>>>(new Map())
  const oneAtATime = yield* Semaphore.make(1)
  const computations = yield* Ref.make(0)
  // Per shard count, the last table computed: where the next view's computation starts from.
  const latest = new Map<number, Rendezvous.ShardTable>()

  const owners = (peers: ReadonlyArray<string>, shards: number) =>
    Effect.gen(function*() {
      const key = `${viewKey(peers)}/${shards}`
      const fresh = yield* Deferred.make<Owners>()
      const [deferred, created] = yield* Ref.modify(entries, (map) => {
        const found = map.get(key)
        const next = new Map(map)
        next.delete(key)
        next.set(key, found ?? fresh)
        for (const oldest of next.keys()) {
          if (next.size <= MAX_ENTRIES) break
          next.delete(oldest)
        }
        return [[found ?? fresh, found === undefined] as const, next]
      })
      if (created) {
        yield* Ref.update(computations, (n) => n + 1).pipe(
          Effect.andThen(Metric.update(AppMetrics.ownershipComputations, 1)),
          Effect.andThen(Effect.suspend(() => tableOf(peers, shards, latest.get(shards)))),
          Effect.map((table): Owners => {
            latest.set(shards, table)
            return { peers, shards, owner: table.owner }
          }),
          oneAtATime.withPermits(1),
          Deferred.into(deferred),
          Effect.forkIn(scope)
        )
      }
      return yield* Deferred.await(deferred)
    })

  return { owners, computations: Ref.get(computations) } satisfies Service
})

/** The cache; closing the layer's scope interrupts a computation in progress. */
export const layer: Layer.Layer<OwnershipCache> = Layer.effect(OwnershipCache, make)
