/**
 * The owner of every shard `0 … shards - 1` over one view of the peers, and its score: what every
 * consumer of shard ownership reads (the shards a pod owns, the answer of a server, an audit), computed
 * once per view. Kept up to date as the view changes instead of recomputed: hashing every shard against
 * every peer is 19.6 M hashes at 65,536 shards and 300 peers (hundreds of ms), while a change of one
 * peer needs far fewer. A peer that joins challenges each shard's owner by its score (one hash per
 * shard, all in one kernel call: rendezvous hashing moves a shard only to the newcomer); the shards of a
 * peer that left are recomputed over the whole new view (about shards / peers of them). The result is
 * exactly the brute-force one, ties included (to the smaller id). Pure values and functions: who keeps
 * which view's owners is the {@link Rendezvous} service's business.
 */
import { Effect } from "effect"
import { sameIds } from "./internal/order.js"
import { kernel } from "./internal/xxh64.js"

/** The owners of the shards of one view. */
export interface ShardOwners {
  /** The view, in the order the owners refer to (a PeerSet's peers are sorted). */
  readonly peers: ReadonlyArray<string>
  /** The shard count: shards are `0 … shards - 1`. */
  readonly shards: number
  /** `owner[shard]` is the position in {@link peers} of the shard's owner; -1 when there are no peers. */
  readonly owner: Int32Array
  /** `score[shard]` is the owner's score for the shard: what a newcomer must beat to take it. */
  readonly score: BigUint64Array
}

/** The key of a shard, the string its owner is computed for: its number in decimal (`"0"`, `"1"`, …). */
export const shardKey = (shard: number): string => String(shard)

/** The largest shard count accepted, so that a typo cannot ask for billions of hashes. */
export const MAX_SHARDS = 1 << 20

/** Hashes between two pauses of {@link compute}: a few milliseconds of CPU. */
export const HASHES_PER_STEP = 100_000

/** Past this share of changed peers, recomputing everything is cheaper than challenging owners. */
const INCREMENTAL_MAX_SHARE = 0.25

/**
 * The owners of `shards` shards over `peers`: from `previous` (owners over an earlier view, any shard
 * count) touching only what the change moves when it is of the same count, or in full. It runs in steps
 * of about {@link HASHES_PER_STEP} hashes with `pause` between two of them, so that a server computing
 * 65,536 shards over hundreds of peers from nothing keeps answering meanwhile. A shard count out of
 * `1 … MAX_SHARDS` is a defect (RangeError).
 */
export const compute = <E, R>(
  shards: number,
  peers: ReadonlyArray<string>,
  options: { readonly previous?: ShardOwners | undefined; readonly pause: Effect.Effect<void, E, R> }
): Effect.Effect<ShardOwners, E, R> =>
  Effect.suspend(() => {
    const steps = build(options.previous, shards, peers)
    const next = (): Effect.Effect<ShardOwners, E, R> => {
      const step = steps.next()
      return step.done === true ? Effect.succeed(step.value) : Effect.andThen(options.pause, Effect.suspend(next))
    }
    return next()
  })

/** {@link compute} at once, without pauses: for a caller that has no event loop to keep turning. */
export const computeNow = (
  shards: number,
  peers: ReadonlyArray<string>,
  previous?: ShardOwners
): ShardOwners => {
  const steps = build(previous, shards, peers)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

/** The shards `id` owns in `owners`, ascending; none when `id` is not in the view. */
export const ownedBy = (owners: ShardOwners, id: string): Array<number> => {
  const index = owners.peers.indexOf(id)
  const owned: Array<number> = []
  if (index < 0) return owned
  for (let shard = 0; shard < owners.shards; shard++) if (owners.owner[shard] === index) owned.push(shard)
  return owned
}

const checkShardCount = (shards: number): void => {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new RangeError(`shard count must be an integer from 1 to ${MAX_SHARDS}, got ${shards}`)
  }
}

/**
 * The owners over `peers`, as a generator that yields after about {@link HASHES_PER_STEP} hashes (where
 * {@link compute} pauses). Kernel state is checked on every call, so other calls may come between two steps.
 */
function* build(
  previous: ShardOwners | undefined,
  shards: number,
  peers: ReadonlyArray<string>
): Generator<void, ShardOwners> {
  checkShardCount(shards)
  if (previous !== undefined && previous.shards === shards && sameIds(previous.peers, peers)) return previous
  const owner = new Int32Array(shards).fill(-1)
  const score = new BigUint64Array(shards)
  const owners: ShardOwners = { peers: [...peers], shards, owner, score }
  const change = previous === undefined || previous.shards !== shards ? undefined : changeOf(previous, peers)
  if (change === undefined) {
    // Every peer challenges every shard, a few peers per kernel call.
    const peersPerStep = Math.max(1, Math.floor(HASHES_PER_STEP / shards))
    for (let from = 0; from < peers.length; from += peersPerStep) {
      if (from > 0) yield
      const to = Math.min(peers.length, from + peersPerStep)
      kernel.challengeShards(peers, Array.from({ length: to - from }, (_, i) => from + i), owner, score)
    }
    return owners
  }
  score.set(previous!.score)
  let hashes = 0
  for (let shard = 0; shard < shards; shard++) {
    const mapped = change.oldToNew[previous!.owner[shard]!]!
    if (mapped >= 0) {
      owner[shard] = mapped
      continue
    }
    // A shard whose owner left: its owner over the whole new view (the newcomers included).
    if ((hashes += peers.length) > HASHES_PER_STEP) {
      yield
      hashes = peers.length
    }
    owner[shard] = kernel.ownerIndex(shardKey(shard), peers)
    score[shard] = kernel.lastScore()
  }
  // Every other shard's owner beat every peer that stayed; it keeps the shard unless a newcomer beats it.
  for (const newcomer of change.joined) {
    if ((hashes += shards) > HASHES_PER_STEP) {
      yield
      hashes = shards
    }
    kernel.challengeShards(peers, [newcomer], owner, score)
  }
  return owners
}

/**
 * Where each previous peer is in `peers` (-1: it left) and which positions of `peers` joined, or
 * undefined when a full computation is cheaper: no peers on one side, or most of them changed.
 */
const changeOf = (previous: ShardOwners, peers: ReadonlyArray<string>) => {
  if (peers.length === 0 || previous.peers.length === 0) return undefined
  const position = new Map(peers.map((id, i) => [id, i] as const))
  const oldToNew = Int32Array.from(previous.peers, (id) => position.get(id) ?? -1)
  const kept = new Set(previous.peers)
  const joined = peers.flatMap((id, i) => (kept.has(id) ? [] : [i]))
  const leftCount = oldToNew.filter((i) => i < 0).length
  const changed = joined.length + leftCount
  return changed > INCREMENTAL_MAX_SHARE * Math.max(peers.length, previous.peers.length)
    ? undefined
    : { oldToNew, joined }
}
