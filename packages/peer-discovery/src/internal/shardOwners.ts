/**
 * The owner of every shard `0 … count - 1` over one view of the peers, and its score, kept up to date
 * as the view changes instead of recomputed: hashing every shard against every peer is 19.6 M hashes
 * at 65,536 shards and 300 peers (hundreds of ms), while a change of one peer needs far fewer. A peer
 * that joins challenges each shard's owner by its score (one hash per shard, all in one kernel call:
 * rendezvous hashing moves a shard only to the newcomer); the shards of a peer that left are recomputed
 * over the whole new view (about count / peers of them). The result is exactly the brute-force one,
 * ties included (to the smaller id).
 */
import { kernel } from "./xxh64.js"

/** Past this share of changed peers, recomputing everything is cheaper than duels. */
const INCREMENTAL_MAX_SHARE = 0.25

const shardKey = (shard: number): string => String(shard)

/** Owners of `count` shards over `peers`, as positions in `peers`, and the owners' scores. */
export interface ShardTable {
  readonly count: number
  readonly peers: ReadonlyArray<string>
  readonly owner: Int32Array
  readonly score: BigUint64Array
}

/** Every shard's owner by brute force: every peer challenges every shard, one kernel call per peer. */
export const compute = (count: number, peers: ReadonlyArray<string>): ShardTable => {
  const owner = new Int32Array(count).fill(-1)
  const score = new BigUint64Array(count)
  kernel.challengeShards(peers, peers.map((_, i) => i), owner, score)
  return { count, peers: [...peers], owner, score }
}

/**
 * The table over `peers` from `previous` (same count), touching only what the change of membership
 * moves; a full computation when there is nothing to start from or most peers changed.
 */
export const update = (previous: ShardTable | undefined, count: number, peers: ReadonlyArray<string>): ShardTable => {
  if (previous === undefined || previous.count !== count || peers.length === 0 || previous.peers.length === 0) {
    return compute(count, peers)
  }
  if (previous.peers.length === peers.length && previous.peers.every((id, i) => id === peers[i])) return previous
  const position = new Map(peers.map((id, i) => [id, i] as const))
  const oldToNew = Int32Array.from(previous.peers, (id) => position.get(id) ?? -1)
  const kept = new Set(previous.peers)
  const joined = peers.flatMap((id, i) => (kept.has(id) ? [] : [i]))
  const leftCount = oldToNew.filter((i) => i < 0).length
  if ((joined.length + leftCount) > INCREMENTAL_MAX_SHARE * Math.max(peers.length, previous.peers.length)) {
    return compute(count, peers)
  }
  const owner = new Int32Array(count)
  const score = previous.score.slice()
  for (let shard = 0; shard < count; shard++) {
    const mapped = oldToNew[previous.owner[shard]!]!
    if (mapped >= 0) {
      owner[shard] = mapped
    } else {
      // A shard whose owner left: its owner over the whole new view (the newcomers included).
      owner[shard] = kernel.ownerIndex(shardKey(shard), peers)
      score[shard] = kernel.lastScore()
    }
  }
  // Every other shard's owner beat every peer that stayed; it keeps the shard unless a newcomer beats it.
  kernel.challengeShards(peers, joined, owner, score)
  return { count, peers: [...peers], owner, score }
}

/** The shards `self` owns in `table`, ascending. */
export const ownedBy = (table: ShardTable, self: string): Array<number> => {
  const index = table.peers.indexOf(self)
  const owned: Array<number> = []
  if (index < 0) return owned
  for (let shard = 0; shard < table.count; shard++) if (table.owner[shard] === index) owned.push(shard)
  return owned
}
