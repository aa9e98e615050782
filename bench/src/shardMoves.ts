/**
 * Shard moves during a rolling update, against the minimum: the shards each pod gained from one of its
 * views to the next, and the shards whose owner changes from one published set to the next (what a
 * perfect observer would move). Shared by the simulator's and the real cluster's rollout benchmarks.
 */
import { Rendezvous } from "@miroir/peer-discovery"

/** Shards (`0 … shards - 1`) whose owner differs between two views. */
export const ownerChanges = (shards: number, before: ReadonlyArray<string>, after: ReadonlyArray<string>): number => {
  let changed = 0
  for (let shard = 0; shard < shards; shard++) {
    if (Rendezvous.ownerOf(String(shard), before) !== Rendezvous.ownerOf(String(shard), after)) changed += 1
  }
  return changed
}

/**
 * Shards gained by the pods over their successive views (`views`: each pod's distinct views in order).
 * A pod not in `initial` (one the rollout started) gains the shards of its first view; the first pods'
 * first views are the start.
 */
export const gained = (
  shards: number,
  initial: ReadonlyArray<string>,
  views: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<string>>>
): number => {
  let moves = 0
  for (const [label, history] of views) {
    if (!initial.includes(label)) moves += Rendezvous.ownedShards(shards, label, history[0]!).length
    for (let i = 1; i < history.length; i++) {
      const before = new Set(Rendezvous.ownedShards(shards, label, history[i - 1]!))
      moves += Rendezvous.ownedShards(shards, label, history[i]!).filter((shard) => !before.has(shard)).length
    }
  }
  return moves
}
