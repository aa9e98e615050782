/**
 * The reference rendezvous ownership, written the plain way: one native xxHash64 (@node-rs/xxhash) of
 * `key||peer` per peer, the highest score wins, ties to the smallest id; a pod's shards by asking that
 * for every shard key. The tests check `Rendezvous.ownerOf` and the incremental shard owners against it,
 * and the ownership benchmark measures it as the naive baseline.
 */
import { xxh64 } from "@node-rs/xxhash"

/** The owner of `key` among `peers`; undefined when there are none. */
export const referenceOwner = (key: string, peers: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestScore = -1n
  for (const peer of peers) {
    // A string is hashed as its UTF-8 bytes.
    const score = xxh64(`${key}||${peer}`)
    if (score > bestScore || (score === bestScore && best !== undefined && peer < best)) {
      best = peer
      bestScore = score
    }
  }
  return best
}

/**
 * The shards among `0 … count - 1` that `self` owns among `peers`, ascending: `owner` (the reference by
 * default) asked for every shard key (its number in decimal). A caller checking a large table may pass
 * `Rendezvous.ownerOf`, the same rule one kernel call per key, to check the incremental computation only.
 */
export const referenceOwnedShards = (
  count: number,
  self: string,
  peers: ReadonlyArray<string>,
  owner: (key: string, peers: ReadonlyArray<string>) => string | undefined = referenceOwner
): ReadonlyArray<number> => {
  const owned: Array<number> = []
  for (let shard = 0; shard < count; shard++) if (owner(String(shard), peers) === self) owned.push(shard)
  return owned
}
