/**
 * Mode A ownership by rendezvous (highest-random-weight) hashing: a key belongs to the peer with the
 * highest xxHash64 of `key || "||" || peerId`. Every pod evaluates it over its own view of the peers,
 * so once the views agree, every key has exactly one owner, and a peer joining takes over only the
 * keys it now wins.
 *
 * The score is the Rust Miroir's (`mode_a_coordinator.rs`): xxHash64, seed 0, of the UTF-8 bytes,
 * so both agree on every owner. It is computed by a small WebAssembly kernel that scores all peers of
 * a key in one call (see BENCHMARKS.md for why).
 */
import { Context, Effect, Layer, Stream } from "effect"
import * as ShardOwners from "./internal/shardOwners.js"
import { kernel } from "./internal/xxh64.js"
import { PeerDiscovery } from "./PeerDiscovery.js"
import type { PeerId } from "./PeerId.js"
import * as PeerSet from "./PeerSet.js"

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
 * The position in `peerIds` of the owner of `key` (as {@link ownerOf}), or -1 when there are no peers:
 * for callers that keep one owner per shard in a typed array instead of the ids themselves.
 */
export const ownerIndexOf = (key: string, peerIds: ReadonlyArray<string>): number => kernel.ownerIndex(key, peerIds)

/** The key of a shard: its number in decimal (`"0"`, `"1"`, …). */
export const shardKey = (shard: number): string => String(shard)

/** The largest shard count accepted, so that a typo cannot ask for billions of hashes. */
export const MAX_SHARDS = 1 << 20

/** Shard counts whose owner tables are kept between calls of {@link ownedShards} (256 kB each at 65,536). */
const KEPT_TABLES = 4
const tables = new Map<number, ShardOwners.ShardTable>()

/**
 * The shards among `0 … count - 1` that `self` owns among `peerIds`, ascending: the same as asking
 * {@link ownerOf} for every shard key, but incremental. The owners of the last view asked about (per
 * shard count) are kept, and a change of membership only touches what it moves (see
 * internal/shardOwners.ts): one hash per shard for a peer that joins, the shards of a peer that left.
 */
export const ownedShards = (count: number, self: string, peerIds: ReadonlyArray<string>): ReadonlyArray<number> => {
  checkShardCount(count)
  const table = ShardOwners.update(tables.get(count), count, peerIds)
  tables.delete(count)
  tables.set(count, table)
  if (tables.size > KEPT_TABLES) tables.delete(tables.keys().next().value!)
  return ShardOwners.ownedBy(table, self)
}

/**
 * The owner (a position in `peers`) and its score of every shard `0 … count - 1` over one view: what
 * {@link ownedShards} keeps between calls, and what a server keeps to answer for several pods.
 */
export type ShardTable = ShardOwners.ShardTable

/**
 * The {@link ShardTable} of `count` shards over `peerIds`: from `previous` (a table of the same count
 * over an earlier view) touching only what the change moves, or in full. It runs in steps of about
 * 100,000 hashes (a few milliseconds) with `pause` between two of them, so that a server computing
 * 65,536 shards over hundreds of peers from nothing keeps answering meanwhile.
 */
export const shardTable = <E, R>(
  count: number,
  peerIds: ReadonlyArray<string>,
  options: { readonly previous?: ShardTable | undefined; readonly pause: Effect.Effect<void, E, R> }
): Effect.Effect<ShardTable, E, R> =>
  Effect.suspend(() => {
    checkShardCount(count)
    const steps = ShardOwners.build(options.previous, count, peerIds)
    const next = (): Effect.Effect<ShardTable, E, R> => {
      const step = steps.next()
      return step.done === true ? Effect.succeed(step.value) : Effect.andThen(options.pause, Effect.suspend(next))
    }
    return next()
  })

const checkShardCount = (count: number): void => {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) {
    throw new RangeError(`shard count must be an integer from 1 to ${MAX_SHARDS}, got ${count}`)
  }
}

/** The brute-force {@link ownedShards}: every shard key through {@link ownerOf}. The reference of the tests. */
export const ownedShardsByKey = (
  count: number,
  self: string,
  peerIds: ReadonlyArray<string>
): ReadonlyArray<number> => {
  const owned: Array<number> = []
  for (let shard = 0; shard < count; shard++) {
    if (ownerOf(shardKey(shard), peerIds) === self) owned.push(shard)
  }
  return owned
}

/** The shards a pod owns after a change of membership, and what the change moved. */
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

/** Builds the service over {@link PeerDiscovery}. */
export const make = Effect.map(PeerDiscovery, (discovery): Service => {
  const ownerIn = (key: string, set: PeerSet.PeerSet): PeerId => ownerOf(key, PeerSet.ownershipPeers(set)) ?? set.self
  return {
    ownerOf: (key) => Effect.map(discovery.current, (set) => ownerIn(key, set)),
    owns: (key) => Effect.map(discovery.current, (set) => ownerIn(key, set) === set.self),
    ownedShards: (count) =>
      Effect.map(discovery.current, (set) => ownedShards(count, set.self, PeerSet.ownershipPeers(set))),
    shardChanges: (count) =>
      discovery.refreshes.pipe(
        // Not `membership`: DNS starting or ceasing to list this pod, or its leaving, changes its ownership,
        // not its peers.
        Stream.changesWith(PeerSet.sameOwnership),
        Stream.mapAccum(() => new Set<number>(), (before, peers) => {
          const owned = ownedShards(count, peers.self, PeerSet.ownershipPeers(peers))
          const now = new Set(owned)
          const change: ShardOwnership = {
            peers,
            owned,
            gained: owned.filter((shard) => !before.has(shard)),
            lost: [...before].filter((shard) => !now.has(shard)).sort((a, b) => a - b)
          }
          return [now, [change]] as const
        })
      )
  }
})

/** Ownership over the {@link PeerDiscovery} in context. */
export const layer: Layer.Layer<Rendezvous, never, PeerDiscovery> = Layer.effect(Rendezvous, make)
