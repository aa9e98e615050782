/**
 * Incremental shard owners (ShardOwners.ts) against the brute-force reference: after any series of
 * joins, leaves and replacements, every shard's owner is exactly `ownerOf` over the new view.
 */
import { referenceOwnedShards } from "@miroir/test-support/referenceOwner"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { kernel } from "../src/internal/xxh64.js"
import * as Rendezvous from "../src/Rendezvous.js"
import * as ShardOwners from "../src/ShardOwners.js"

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const idPool = Array.from({ length: 400 }, (_, i) => `10-244-${i % 9}-${(i * 37) % 251}x${i}`)
const sorted = (ids: Iterable<string>) => [...ids].sort()

const reference = (count: number, peers: ReadonlyArray<string>) =>
  Array.from({ length: count }, (_, shard) => Rendezvous.ownerOf(String(shard), peers))

describe("incremental shard owners", () => {
  it("match ownerOf on every shard after random changes of membership", () => {
    const next = random(12)
    const count = 2_000
    let view = new Set(idPool.slice(0, 30))
    let table = ShardOwners.computeNow(count, sorted(view))
    for (let step = 0; step < 60; step++) {
      const change = Math.floor(next() * 4)
      const members = [...view]
      if (change === 0 || members.length < 3) view.add(idPool[Math.floor(next() * idPool.length)]!)
      else if (change === 1) view.delete(members[Math.floor(next() * members.length)]!)
      else if (change === 2) {
        // A rolling-update step: one in, one out.
        view.delete(members[Math.floor(next() * members.length)]!)
        view.add(idPool[Math.floor(next() * idPool.length)]!)
      } else view = new Set([...view].slice(1).concat(idPool.slice(300 + step, 302 + step)))
      const peers = sorted(view)
      table = ShardOwners.computeNow(count, peers, table)
      const owners = Array.from(table.owner, (index) => peers[index])
      expect(owners).toEqual(reference(count, peers))
    }
  })

  it("ownedBy equals the reference, from any previous view, for every peer", () => {
    const peers = sorted(idPool.slice(0, 40))
    const grown = sorted([...peers, idPool[41]!, idPool[42]!])
    const shrunk = sorted(grown.filter((id) => id !== peers[5] && id !== peers[17]))
    let owners: ShardOwners.ShardOwners | undefined
    for (const view of [peers, grown, shrunk, peers, ["only-one"], peers]) {
      owners = ShardOwners.computeNow(5_000, view, owners)
      for (const self of view.slice(0, 8)) {
        // ownerOf per key (checked against the reference in Rendezvous.test.ts): the incremental path is under test.
        expect(ShardOwners.ownedBy(owners, self)).toEqual(referenceOwnedShards(5_000, self, view, Rendezvous.ownerOf))
        expect(Rendezvous.ownedShards(5_000, self, view)).toEqual(ShardOwners.ownedBy(owners, self))
      }
    }
    expect(ShardOwners.ownedBy(owners!, "not-a-peer")).toEqual([])
  })

  it("compute pauses between steps of about HASHES_PER_STEP hashes, and gives what computeNow gives", () => {
    const peers = sorted(idPool.slice(0, 50))
    let pauses = 0
    const owners = Effect.runSync(
      ShardOwners.compute(20_000, peers, { pause: Effect.sync(() => void pauses++) })
    )
    expect(Array.from(owners.owner)).toEqual(Array.from(ShardOwners.computeNow(20_000, peers).owner))
    expect(pauses).toBeGreaterThanOrEqual(Math.floor((20_000 * 50) / ShardOwners.HASHES_PER_STEP) - 1)
  })

  it("a tie goes to the smaller id, as ownerOf says, with ids in any order", () => {
    const peers = ["b", "a", "c"]
    const table = ShardOwners.computeNow(500, peers, ShardOwners.computeNow(500, ["b", "c"]))
    expect(Array.from(table.owner, (index) => peers[index])).toEqual(reference(500, peers))
  })

  it("builds the whole table right at every count where the shard keys grow a digit", () => {
    const peers = sorted(idPool.slice(0, 7))
    for (const count of [1, 9, 10, 11, 99, 100, 101, 1_000, 1_001, 10_001]) {
      const table = ShardOwners.computeNow(count, peers)
      expect(Array.from(table.owner, (index) => peers[index])).toEqual(reference(count, peers))
      expect(Array.from(table.score)).toEqual(
        Array.from(table.owner, (index, shard) => Rendezvous.score(String(shard), peers[index]!))
      )
    }
  })

  it("a challenger that only ties the owner's score takes the shard only if its id is smaller", () => {
    // Real 64-bit ties are too rare to find: the held scores are set to the challenger's own.
    const peers = ["m", "a", "z"]
    const owners = Int32Array.from([0, 2, -1])
    const scores = BigUint64Array.from([0, 1, 2], (shard) => Rendezvous.score(String(shard), "a"))
    kernel.challengeShards(peers, [1], owners, scores)
    // Shard 0: "a" ties "m" and is smaller; shard 1: "a" ties "z" and is smaller; shard 2 had no owner.
    expect(Array.from(owners)).toEqual([1, 1, 1])
    const held = Int32Array.from([1, 1, 1])
    const heldScores = BigUint64Array.from([0, 1, 2], (shard) => Rendezvous.score(String(shard), "z"))
    kernel.challengeShards(peers, [2], held, heldScores)
    // "z" ties "a" everywhere and is larger: nothing moves.
    expect(Array.from(held)).toEqual([1, 1, 1])
  })
})
