/**
 * Ownership throughput: `Rendezvous.ownerOf` calls per second over 8, 24 and 100 peers, against a
 * naive baseline in the same run (one native xxhash64 call per peer per key, @node-rs/xxhash).
 * Each figure is the median of several timed trials, with the spread.
 */
import { MAX_POD_SHARDS } from "@miroir/pod-api/Shards"
import { Rendezvous, ShardOwners } from "@miroir/peer-discovery"
import { referenceOwnedShards, referenceOwner } from "@miroir/test-support/referenceOwner"
import { type Figure, figure } from "./stats.js"

const { ownerOf } = Rendezvous
const PEER_COUNTS = [8, 24, 100] as const
const KEYS = Array.from({ length: 100_000 }, (_, i) => `task-${i}`)

/** Dashed pod IPs of a Deployment, of mixed lengths as in a real cluster; frozen, as a PeerSet's are. */
const peersOf = (n: number) => Object.freeze(Array.from({ length: n }, (_, i) => `10-244-${i % 7}-${(i * 37) % 251}`))

/** Calls per second of `owner` in one trial of about `trialMs`. */
const trial = (
  owner: (key: string, peers: ReadonlyArray<string>) => string | undefined,
  peers: ReadonlyArray<string>,
  trialMs: number
) => {
  let calls = 0
  let sink = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < trialMs) {
    for (let i = 0; i < 10_000; i++) sink += owner(KEYS[(calls + i) % KEYS.length]!, peers)!.length
    calls += 10_000
    elapsed = performance.now() - started
  }
  if (sink === 0) throw new Error("unreachable: keeps the loop from being optimised away")
  return calls / (elapsed / 1_000)
}

/** Median and spread of `trials` trials, after one warm-up trial. */
const measure = (
  owner: Parameters<typeof trial>[0],
  peers: ReadonlyArray<string>,
  trials: number,
  trialMs: number
): Figure => {
  trial(owner, peers, trialMs)
  return figure(Array.from({ length: trials }, () => trial(owner, peers, trialMs)), "calls/s")
}

/** One row per peer count. */
export interface OwnershipFigures {
  readonly peers: number
  readonly opsPerSec: Figure
  readonly baselineOpsPerSec: Figure
}

/** Runs the benchmark (after checking that both implementations agree). */
export const run = (quick: boolean): ReadonlyArray<OwnershipFigures> =>
  PEER_COUNTS.map((n) => {
    const peers = peersOf(n)
    for (const key of KEYS.slice(0, 2_000)) {
      if (ownerOf(key, peers) !== referenceOwner(key, peers)) throw new Error(`implementations disagree on ${key}`)
    }
    const [trials, trialMs] = quick ? [3, 300] : [7, 1_000]
    return {
      peers: n,
      opsPerSec: measure(ownerOf, peers, trials, trialMs),
      baselineOpsPerSec: measure(referenceOwner, peers, trials, trialMs)
    }
  })

/** The shards and peers of the `ownedShards` figure: the largest shard count a pod accepts. */
const SHARDS_FIGURE = { shards: MAX_POD_SHARDS, peers: 300 } as const

/**
 * A pod's shards at 65,536 shards and 300 peers, as the Rendezvous service computes them (`ShardOwners`
 * from the owners of the view before, then `ownedBy`): from nothing, for the same view, and after one change.
 */
export interface ShardFigures {
  /** The first call: every shard against every peer (19.7 M hashes). */
  readonly coldMs: Figure
  /** The same view again. */
  readonly sameViewMs: Figure
  /** After one peer joined, and after one left (alternating, as in a rolling update). */
  readonly joinMs: Figure
  readonly leaveMs: Figure
  /** Every change (joins and leaves together): the figure of the target. */
  readonly changeMs: Figure
}

/** Measures {@link ShardFigures}, checking the incremental result against the brute force once. */
export const runShards = (quick: boolean): ShardFigures => {
  const { shards, peers: count } = SHARDS_FIGURE
  const time = (f: () => unknown) => {
    const started = performance.now()
    f()
    return performance.now() - started
  }
  const base = peersOf(count).map((id, i) => `${id}x${i}`).sort()
  const self = base[0]!
  // What the Rendezvous service keeps between two views: the owners of the last one.
  let owners: ShardOwners.ShardOwners | undefined
  const ownedShards = (view: ReadonlyArray<string>) => {
    owners = ShardOwners.computeNow(shards, view, owners)
    return ShardOwners.ownedBy(owners, self)
  }
  const cold: Array<number> = []
  const same: Array<number> = []
  const joins: Array<number> = []
  const leaves: Array<number> = []
  for (let round = 0; round < (quick ? 2 : 4); round++) {
    // A view no table was kept for: a fresh pool of ids each round.
    const view = base.map((id) => `${id}r${round}`)
    cold.push(time(() => ownedShards(view)))
    same.push(time(() => ownedShards(view)))
    let current = view
    for (let step = 0; step < (quick ? 4 : 10); step++) {
      const joined = [...current, `10-250-${round}-${step}`].sort()
      joins.push(time(() => ownedShards(joined)))
      const left = joined.filter((id) => id !== current[step * 7 + 1])
      leaves.push(time(() => ownedShards(left)))
      current = left
    }
    if (round === 0) {
      // `ownerOf` per key: the same rule without the incremental table, in under a second.
      const reference = referenceOwnedShards(shards, current[3]!, current, Rendezvous.ownerOf)
      if (ShardOwners.ownedBy(owners!, current[3]!).join() !== reference.join()) {
        throw new Error("incremental ownedShards disagrees with the brute force")
      }
    }
  }
  return {
    coldMs: figure(cold, "ms"),
    sameViewMs: figure(same, "ms"),
    joinMs: figure(joins, "ms"),
    leaveMs: figure(leaves, "ms"),
    changeMs: figure([...joins, ...leaves], "ms")
  }
}
