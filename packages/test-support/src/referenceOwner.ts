/**
 * The reference rendezvous owner, written the plain way: one native xxHash64 (@node-rs/xxhash) of
 * `key||peer` per peer, the highest score wins, ties to the smallest id. The tests check
 * `Rendezvous.ownerOf` against it, and the ownership benchmark measures it as the naive baseline.
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
