/**
 * Which peer a pod probes in each probe slot: a rotation that every pod computes alike from its view, so
 * that in every slot each listed pod is probed by exactly one other.
 *
 * Why not SWIM's shuffled rounds: each pod then probes a given peer once per round of N − 1 slots, at a
 * random place in it, and the first of the N − 1 survivors to probe a crashed pod comes after the least of
 * N − 1 uniform draws over a round: about 3 s at the 99th percentile with 6 pods, 4.6 slots as N grows.
 * With the rotation, slot `s` maps the pod at index `i` of the sorted view to index `i + 1 + k(s)` (mod N),
 * with the offset `k(s)` in 0 … N − 2: for each `s` a bijection without fixed point, so a crashed pod is
 * probed within one slot (where the views agree; where they do not, each pod still probes every peer once
 * per N − 1 slots, since `k` takes every value once in N − 1 slots in a row), and each pod receives one
 * probe per slot instead of a random number of them.
 *
 * Why the offset strides: the sorted view puts the pods of one node next to each other (each node has its
 * own range of pod addresses), and when a node dies, so do the probers of its pods for every offset that
 * points from one of them to another: for each of its pods, D − 1 offsets in a row (cyclically). With
 * `k(s) = s mod (N − 1)` the slots step through them one by one, so the last of D dead pods could wait D − 1
 * slots for a live prober (the dead-node benchmark's thin margin). With `k(s) = s · g mod (N − 1)`, the
 * stride `g` the largest coprime with N − 1 up to half of it, two slots in a row never both give a pod of a
 * node a prober on the same node while D − 1 ≤ g: up to N / 2 − 1 pods on the node (3 of 6 too), and it
 * waits one slot at most. (At 7 pods no stride but 1 visits all 6 offsets: there it holds up to 2.)
 */
import type { PeerId } from "../PeerId.js"

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))

/**
 * The step between the offsets of two slots in a row, among `offsets` (N − 1): the largest one up to half of
 * them that is coprime with them, so that `offsets` slots in a row take every offset once.
 */
export const strideOf = (offsets: number): number => {
  for (let stride = Math.floor(offsets / 2); stride > 1; stride--) {
    if (gcd(offsets, stride) === 1) return stride
  }
  return 1
}

/**
 * The peer `self` probes in slot `slot` (the probe interval's count since the epoch), among `peers` (the
 * sorted view, `self` included); none when `self` is alone.
 */
export const targetOf = (peers: ReadonlyArray<PeerId>, self: PeerId, slot: number): PeerId | undefined => {
  const index = peers.indexOf(self)
  const count = peers.length
  if (index < 0 || count < 2) return undefined
  const offsets = count - 1
  const offset = ((slot % offsets) * strideOf(offsets)) % offsets
  return peers[(index + 1 + offset) % count]
}

/**
 * The peer that `previous` (the view at the previous slot) gave `self` to probe in `slot` and that `current`
 * no longer lists: DNS dropped it since, and the pods that still list it count on this pod's probe of it in
 * this slot (failureDetector.ts probes it all the same). None when this slot's turn is a listed peer's.
 */
export const departedTarget = (
  previous: ReadonlyArray<PeerId>,
  current: ReadonlyArray<PeerId>,
  self: PeerId,
  slot: number
): PeerId | undefined => {
  const target = targetOf(previous, self, slot)
  return target !== undefined && !current.includes(target) ? target : undefined
}
