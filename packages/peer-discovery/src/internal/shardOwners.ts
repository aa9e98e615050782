/**
 * The owner of every shard `0 … count - 1` over one view of the peers, and its score, kept up to date
 * as the view changes instead of recomputed: hashing every shard against every peer is 19.6 M hashes
 * at 65,536 shards and 300 peers (hundreds of ms), while a change of one peer needs far fewer. A peer
 * that joins challenges each shard's owner by its score (one hash per shard, all in one kernel call:
 * rendezvous hashing moves a shard only to the newcomer); the shards of a peer that left are recomputed
 * over the whole new view (about count / peers of them). The result is exactly the brute-force one,
 * ties included (to the smaller id).
 */
import { sameIds } from "./order.js"
import { kernel } from "./xxh64.js"

/** Past this share of changed peers, recomputing everything is cheaper than challenging owners. */
const INCREMENTAL_MAX_SHARE = 0.25

const shardKey = (shard: number): string => String(shard)

/** Owners of `count` shards over `peers`, as positions in `peers`, and the owners' scores. */
export interface ShardTable {
  readonly count: number
  readonly peers: ReadonlyArray<string>
  readonly owner: Int32Array
  readonly score: BigUint64Array
}

/** Hashes between two steps of {@link build}: a few milliseconds of CPU. */
export const HASHES_PER_STEP = 100_000

/**
 * Builds the table over `peers`: from `previous` (same count) touching only what the change of
 * membership moves, or in full when there is nothing to start from or many peers changed (every peer
 * challenges every shard, one kernel call each). A generator that pauses (yields) after about
 * {@link HASHES_PER_STEP} hashes, so that a server can give its event loop a turn between two steps;
 * {@link update} runs it through. Kernel state is checked on every call, so other calls may come between
 * two steps.
 */
export function* build(
  previous: ShardTable | undefined,
  count: number,
  peers: ReadonlyArray<string>
): Generator<void, ShardTable> {
  if (previous !== undefined && previous.count === count && sameIds(previous.peers, peers)) return previous
  const owner = new Int32Array(count).fill(-1)
  const score = new BigUint64Array(count)
  const table: ShardTable = { count, peers: [...peers], owner, score }
  const change = previous === undefined || previous.count !== count ? undefined : changeOf(previous, peers)
  if (change === undefined) {
    const peersPerStep = Math.max(1, Math.floor(HASHES_PER_STEP / count))
    for (let from = 0; from < peers.length; from += peersPerStep) {
      if (from > 0) yield
      const to = Math.min(peers.length, from + peersPerStep)
      kernel.challengeShards(peers, Array.from({ length: to - from }, (_, i) => from + i), owner, score)
    }
    return table
  }
  score.set(previous!.score)
  let hashes = 0
  for (let shard = 0; shard < count; shard++) {
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
    if ((hashes += count) > HASHES_PER_STEP) {
      yield
      hashes = count
    }
    kernel.challengeShards(peers, [newcomer], owner, score)
  }
  return table
}

/** {@link build} run through at once. */
export const update = (previous: ShardTable | undefined, count: number, peers: ReadonlyArray<string>): ShardTable => {
  const steps = build(previous, count, peers)
  for (;;) {
    const step = steps.next()
    if (step.done === true) return step.value
  }
}

/**
 * Where each previous peer is in `peers` (-1: it left) and which positions of `peers` joined, or
 * undefined when a full computation is cheaper: no peers on one side, or most of them changed.
 */
const changeOf = (previous: ShardTable, peers: ReadonlyArray<string>) => {
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

/** The shards `self` owns in `table`, ascending. */
export const ownedBy = (table: ShardTable, self: string): Array<number> => {
  const index = table.peers.indexOf(self)
  const owned: Array<number> = []
  if (index < 0) return owned
  for (let shard = 0; shard < table.count; shard++) if (table.owner[shard] === index) owned.push(shard)
  return owned
}
