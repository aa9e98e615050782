/**
 * Mode A ownership by rendezvous (highest-random-weight) hashing: a key belongs to the peer with the
 * highest xxHash64 of `key || "||" || peerId`. Every pod evaluates it over its own view of the peers,
 * so once the views agree, every key has exactly one owner, and a peer joining takes over only the
 * keys it now wins.
 *
 * The score is the Rust Miroir's (`mode_a_coordinator.rs`): xxHash64, seed 0, of the UTF-8 bytes,
 * so both agree on every owner. It is computed by a small WebAssembly kernel that scores all peers of
 * a key in one call (see BENCHMARKS.md for why).
 *
 * The pure functions answer for any view; the {@link Rendezvous} service answers for this pod's
 * {@link OwnershipView} (the peers of {@link PeerDiscovery} and their {@link PeerHealth}), and keeps the
 * owners of every shard of the views it is asked about ({@link ShardOwners}), so that a pod computes them
 * once per view however many consumers read them.
 */
import { Context, Effect, Layer, type Scope, Stream } from "effect"
import * as OwnersCache from "./internal/ownersCache.js"
import { kernel } from "./internal/xxh64.js"
import * as OwnershipView from "./OwnershipView.js"
import { PeerDiscovery } from "./PeerDiscovery.js"
import * as PeerHealth from "./PeerHealth.js"
import type { PeerId } from "./PeerId.js"
import type * as PeerSet from "./PeerSet.js"
import * as ShardOwners from "./ShardOwners.js"

/** The score of `peerId` for `key`: xxHash64, seed 0, of `key + "||" + peerId` (UTF-8), unsigned. */
export const score = (key: string, peerId: string): bigint => kernel.score(key, peerId)

/**
 * The owner of `key` among `peerIds` (any order): the highest score, ties to the smallest id;
 * `undefined` when there are no peers. Passing the same ids in the same order call after call is
 * fastest: the ids are laid out for the kernel once. The same frozen array (a PeerSet's `peers` are)
 * is faster still: the ids are not compared again.
 */
export const ownerOf = <Id extends string>(key: string, peerIds: ReadonlyArray<Id>): Id | undefined => {
  const index = kernel.ownerIndex(key, peerIds)
  return index < 0 ? undefined : peerIds[index]
}

/**
 * The owner of `key` in a pod's view: over its {@link OwnershipView.OwnershipView.peers}, so that a pod DNS
 * does not list while it lists others, a peer held down and a fenced pod give their keys to the others.
 */
export const ownerIn = (key: string, view: OwnershipView.OwnershipView): PeerId =>
  ownerOf(key, view.peers) ?? view.set.self

/**
 * The shards among `0 … count - 1` that `self` owns among `peerIds`, ascending: the same as asking
 * {@link ownerOf} for every shard key, computed at once over the whole view. Nothing is kept between
 * calls: a caller that follows a changing view keeps its {@link ShardOwners} and passes them to
 * `ShardOwners.computeNow`, or asks the {@link Rendezvous} service, which does.
 */
export const ownedShards = (count: number, self: string, peerIds: ReadonlyArray<string>): ReadonlyArray<number> =>
  ShardOwners.ownedBy(ShardOwners.computeNow(count, peerIds), self)

/** The shards a pod owns after a change of what they are computed over, and what the change moved. */
export interface ShardOwnership {
  /** The view this was computed over: the peers DNS listed (`view.set`) and their health. */
  readonly view: OwnershipView.OwnershipView
  /** Shards owned now, ascending. */
  readonly owned: ReadonlyArray<number>
  /** Shards owned now and not before, ascending (at subscription: all owned shards). */
  readonly gained: ReadonlyArray<number>
  /** Shards owned before and not now, ascending. */
  readonly lost: ReadonlyArray<number>
}

/**
 * Ownership over this pod's {@link OwnershipView}: the current peer set of {@link PeerDiscovery} and the
 * verdicts of {@link PeerHealth} about them.
 */
export interface Service {
  /** The view ownership is computed over now. */
  readonly view: Effect.Effect<OwnershipView.OwnershipView>
  /** The view now, then after every change of ownership (of what it is computed over). */
  readonly views: Stream.Stream<OwnershipView.OwnershipView>
  /** The owner of `key` now. */
  readonly ownerOf: (key: string) => Effect.Effect<PeerId>
  /** Whether this pod owns `key` now. */
  readonly owns: (key: string) => Effect.Effect<boolean>
  /**
   * The owner of every shard `0 … shards - 1` over `view` (sorted as a PeerSet's peers are): computed
   * once per view and shard count, starting from the view before, shared by every caller meanwhile, and
   * giving the event loop a turn every few milliseconds. A shard count out of `1 … MAX_SHARDS` is a defect.
   */
  readonly owners: (view: ReadonlyArray<string>, shards: number) => Effect.Effect<ShardOwners.ShardOwners>
  /** The shards among `0 … count - 1` this pod owns now. */
  readonly ownedShards: (count: number) => Effect.Effect<ReadonlyArray<number>>
  /**
   * This pod's shards at subscription, then after every change of what they are computed over (a change
   * of membership, DNS starting or ceasing to list this pod, this pod leaving, a peer held down or back, this
   * pod fenced or not), with gains and losses.
   */
  readonly shardChanges: (count: number) => Stream.Stream<ShardOwnership>
}

/** Ownership as a service. */
export class Rendezvous extends Context.Service<Rendezvous, Service>()("@miroir/peer-discovery/Rendezvous") {}

/** The shards owned in `owned` and not in `before`, ascending (both ascending). */
const without = (owned: ReadonlyArray<number>, before: ReadonlySet<number>): Array<number> =>
  owned.filter((shard) => !before.has(shard))

/**
 * Builds the service over {@link PeerDiscovery} and {@link PeerHealth}; its computations run in the current
 * scope.
 */
export const make: Effect.Effect<Service, never, PeerDiscovery | PeerHealth.PeerHealth | Scope.Scope> = Effect.gen(
  function*() {
    const discovery = yield* PeerDiscovery
    const health = yield* PeerHealth.PeerHealth
    const cache = yield* OwnersCache.make
    // The view of the last (set, health) asked about: the same object, and the same peers array, while
    // neither changes (the kernel lays the ids out once per array). The service's, not the module's.
    let last: OwnershipView.OwnershipView | undefined
    const viewOf = (set: PeerSet.PeerSet, verdicts: PeerHealth.Health): OwnershipView.OwnershipView => {
      if (last === undefined || last.set !== set || last.health !== verdicts) last = OwnershipView.make(set, verdicts)
      return last
    }
    const view = Effect.zipWith(discovery.current, health.current, viewOf)
    const ownedIn = (view: OwnershipView.OwnershipView, count: number) =>
      Effect.map(cache.owners(view.peers, count), (owners) => ShardOwners.ownedBy(owners, view.set.self))
    // Each side's changes with the other's current value (rather than the latest it emitted): a view is never
    // made of a set and verdicts older than those in the refs.
    const views = Stream.merge(
      Stream.mapEffect(discovery.refreshes, (set) => Effect.map(health.current, (verdicts) => viewOf(set, verdicts))),
      Stream.mapEffect(health.changes, (verdicts) => Effect.map(discovery.current, (set) => viewOf(set, verdicts)))
    ).pipe(
      // Not `membership`: DNS starting or ceasing to list this pod, its leaving, and the verdicts change
      // its ownership, not its peers.
      Stream.changesWith(OwnershipView.sameOwnership)
    )
    return {
      view,
      views,
      ownerOf: (key) => Effect.map(view, (current) => ownerIn(key, current)),
      owns: (key) => Effect.map(view, (current) => ownerIn(key, current) === current.set.self),
      owners: cache.owners,
      ownedShards: (count) => Effect.flatMap(view, (current) => ownedIn(current, count)),
      shardChanges: (count) =>
        views.pipe(
          Stream.mapEffect((current) => Effect.map(ownedIn(current, count), (owned) => ({ view: current, owned }))),
          Stream.mapAccum(() => new Set<number>(), (before, { owned, view }) => {
            const now = new Set(owned)
            const change: ShardOwnership = {
              view,
              owned,
              gained: without(owned, before),
              // `before` holds the shards of the previous `owned`, in its ascending order.
              lost: without([...before], now)
            }
            return [now, [change]] as const
          })
        )
    } satisfies Service
  }
)

/**
 * Ownership over the {@link PeerDiscovery} and {@link PeerHealth} in context; closing the layer interrupts a
 * computation in progress.
 */
export const layer: Layer.Layer<Rendezvous, never, PeerDiscovery | PeerHealth.PeerHealth> = Layer.effect(
  Rendezvous,
  make
)

/** Ownership over the {@link PeerDiscovery} in context and DNS alone ({@link PeerHealth.layerNone}). */
export const layerDnsOnly: Layer.Layer<Rendezvous, never, PeerDiscovery> = layer.pipe(
  Layer.provide(PeerHealth.layerNone)
)
