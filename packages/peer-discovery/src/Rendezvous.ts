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
 * The pure functions answer for any view; the {@link Rendezvous} service answers for this pod's view
 * ({@link PeerDiscovery}), and keeps the owners of every shard of the views it is asked about
 * ({@link ShardOwners}), so that a pod computes them once per view however many consumers read them.
 */
import { Context, Effect, Layer, type Scope, Stream } from "effect"
import * as OwnersCache from "./internal/ownersCache.js"
import { kernel } from "./internal/xxh64.js"
import { PeerDiscovery } from "./PeerDiscovery.js"
import type { PeerId } from "./PeerId.js"
import * as PeerSet from "./PeerSet.js"
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
 * The owner of `key` in a pod's set: over {@link PeerSet.ownershipPeers}, so that a pod DNS does not list
 * while it lists others gives its keys to them; the pod itself when it is the only peer.
 */
export const ownerIn = (key: string, set: PeerSet.PeerSet): PeerId =>
  ownerOf(key, PeerSet.ownershipPeers(set)) ?? set.self

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
  /** The set this was computed over. */
  readonly peers: PeerSet.PeerSet
  /** Shards owned now, ascending. */
  readonly owned: ReadonlyArray<number>
  /** Shards owned now and not before, ascending (at subscription: all owned shards). */
  readonly gained: ReadonlyArray<number>
  /** Shards owned before and not now, ascending. */
  readonly lost: ReadonlyArray<number>
}

/**
 * Ownership over the current peer set of {@link PeerDiscovery}, computed over
 * {@link PeerSet.ownershipPeers}: a pod that DNS does not list while it lists others owns nothing.
 */
export interface Service {
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
   * of membership, DNS starting or ceasing to list this pod, or this pod leaving), with gains and losses.
   */
  readonly shardChanges: (count: number) => Stream.Stream<ShardOwnership>
}

/** Ownership as a service. */
export class Rendezvous extends Context.Service<Rendezvous, Service>()("@miroir/peer-discovery/Rendezvous") {}

/** The shards owned in `owned` and not in `before`, ascending (both ascending). */
const without = (owned: ReadonlyArray<number>, before: ReadonlySet<number>): Array<number> =>
  owned.filter((shard) => !before.has(shard))

/** Builds the service over {@link PeerDiscovery}; its computations run in the current scope. */
export const make: Effect.Effect<Service, never, PeerDiscovery | Scope.Scope> = Effect.gen(function*() {
  const discovery = yield* PeerDiscovery
  const cache = yield* OwnersCache.make
  const ownedIn = (set: PeerSet.PeerSet, count: number) =>
    Effect.map(cache.owners(PeerSet.ownershipPeers(set), count), (owners) => ShardOwners.ownedBy(owners, set.self))
  return {
    ownerOf: (key) => Effect.map(discovery.current, (set) => ownerIn(key, set)),
    owns: (key) => Effect.map(discovery.current, (set) => ownerIn(key, set) === set.self),
    owners: cache.owners,
    ownedShards: (count) => Effect.flatMap(discovery.current, (set) => ownedIn(set, count)),
    shardChanges: (count) =>
      discovery.refreshes.pipe(
        // Not `membership`: DNS starting or ceasing to list this pod, or its leaving, changes its ownership,
        // not its peers.
        Stream.changesWith(PeerSet.sameOwnership),
        Stream.mapEffect((peers) => Effect.map(ownedIn(peers, count), (owned) => ({ peers, owned }))),
        Stream.mapAccum(() => new Set<number>(), (before, { owned, peers }) => {
          const now = new Set(owned)
          const change: ShardOwnership = {
            peers,
            owned,
            gained: without(owned, before),
            // `before` holds the shards of the previous `owned`, in its ascending order.
            lost: without([...before], now)
          }
          return [now, [change]] as const
        })
      )
  } satisfies Service
})

/** Ownership over the {@link PeerDiscovery} in context; closing the layer interrupts a computation in progress. */
export const layer: Layer.Layer<Rendezvous, never, PeerDiscovery> = Layer.effect(Rendezvous, make)
