/**
 * The owners cache of a Rendezvous service (internal/ownersCache.ts): one computation per view and shard
 * count, bounded, and never a long block.
 */
import { readFile } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as OwnersCache from "../src/internal/ownersCache.js"
import * as Rendezvous from "../src/Rendezvous.js"
import * as ShardOwners from "../src/ShardOwners.js"

const view = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => `10-244-${(i + offset) % 7}-${(i + offset) * 37 % 251}`).sort()

describe("the owners cache", () => {
  it.effect("gives every shard the owner rendezvous hashing gives it", () =>
    Effect.gen(function*() {
      const cache = yield* OwnersCache.make
      const peers = view(24)
      const owners = yield* cache.owners(peers, 1000)
      for (let shard = 0; shard < 1000; shard++) {
        expect(peers[owners.owner[shard]!]).toBe(Rendezvous.ownerOf(String(shard), peers))
      }
      for (const peer of peers) {
        expect(ShardOwners.ownedBy(owners, peer)).toEqual(Rendezvous.ownedShards(1000, peer, peers))
      }
      expect(ShardOwners.ownedBy(owners, "not-a-peer")).toEqual([])
    }))

  it.effect("gives every shard its owner after each change of membership, starting from the view before", () =>
    Effect.gen(function*() {
      const cache = yield* OwnersCache.make
      // A rolling update: one in, then one out, and a larger change that is computed in full.
      const views = [view(24), view(25), view(25).slice(1), view(24, 3), view(10, 40)]
      for (const peers of views) {
        const owners = yield* cache.owners(peers, 3000)
        expect(Array.from(owners.owner, (index) => peers[index])).toEqual(
          Array.from({ length: 3000 }, (_, shard) => Rendezvous.ownerOf(String(shard), peers))
        )
      }
    }))

  it.effect("computes once for callers that ask at the same time or later, and again for another view or count", () =>
    Effect.gen(function*() {
      const cache = yield* OwnersCache.make
      const peers = view(50)
      const all = yield* Effect.all(Array.from({ length: 30 }, () => cache.owners(peers, 8192)), {
        concurrency: "unbounded"
      })
      expect(new Set(all).size).toBe(1)
      expect(yield* cache.computations).toBe(1)
      // The same ids in another array are the same view.
      yield* cache.owners([...peers], 8192)
      expect(yield* cache.computations).toBe(1)
      yield* cache.owners(peers, 4096)
      yield* cache.owners(view(51), 8192)
      expect(yield* cache.computations).toBe(3)
    }))

  it.effect("keeps the most recently used entries only", () =>
    Effect.gen(function*() {
      const cache = yield* OwnersCache.make
      const peers = view(8)
      for (let n = 1; n <= OwnersCache.MAX_ENTRIES + 1; n++) yield* cache.owners(peers, n)
      expect(yield* cache.computations).toBe(OwnersCache.MAX_ENTRIES + 1)
      // The newest MAX_ENTRIES are still there; the first was evicted.
      yield* cache.owners(peers, OwnersCache.MAX_ENTRIES + 1)
      yield* cache.owners(peers, 2)
      expect(yield* cache.computations).toBe(OwnersCache.MAX_ENTRIES + 1)
      yield* cache.owners(peers, 1)
      expect(yield* cache.computations).toBe(OwnersCache.MAX_ENTRIES + 2)
    }))

  it.live("gives the event loop a turn while it computes a large view", () =>
    Effect.gen(function*() {
      const peers = view(300)
      let turns = 0
      let done = false
      // A callback on the event loop's check phase, as an HTTP request's would be on the poll phase.
      const tick = () => {
        if (done) return
        turns++
        setImmediate(tick)
      }
      setImmediate(tick)
      const cache = yield* OwnersCache.make
      const owners = yield* cache.owners(peers, 65_536)
      done = true
      expect(owners.owner.length).toBe(65_536)
      // A turn every 100,000 hashes or so (ShardOwners.HASHES_PER_STEP): 65,536 × 300 hashes take 196 turns at least.
      expect(turns).toBeGreaterThanOrEqual(Math.floor((65_536 * 300) / ShardOwners.HASHES_PER_STEP) - 1)
    }))

  it.live("lets I/O callbacks run between two steps: its pause, Effect.yieldNow, resumes after Node polled for I/O", () =>
    Effect.gen(function*() {
      // A file read completes on libuv's thread pool and calls back in the poll phase, as a socket's data
      // would. A pause that resumed in a microtask would starve it: the loop would end with the read pending.
      let read = false
      readFile(fileURLToPath(import.meta.url), () => (read = true))
      let pauses = 0
      while (!read && pauses < 1_000_000) {
        yield* Effect.yieldNow
        pauses++
      }
      expect(read).toBe(true)
    }))

  it.effect("a caller that gives up does not stop the computation the others wait for", () =>
    Effect.gen(function*() {
      const cache = yield* OwnersCache.make
      const peers = view(100)
      const first = yield* Effect.forkChild(cache.owners(peers, 20_000))
      const second = yield* Effect.forkChild(cache.owners(peers, 20_000))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(first)
      const owners = yield* Fiber.join(second)
      expect(owners.shards).toBe(20_000)
      expect(yield* cache.computations).toBe(1)
    }))

  it.effect("keeps nothing outside the cache: another cache computes again", () =>
    Effect.gen(function*() {
      const peers = view(12)
      const first = yield* OwnersCache.make
      const second = yield* OwnersCache.make
      const a = yield* first.owners(peers, 512)
      const b = yield* second.owners(peers, 512)
      expect(a).not.toBe(b)
      expect(Array.from(b.owner)).toEqual(Array.from(a.owner))
      expect([yield* first.computations, yield* second.computations]).toEqual([1, 1])
    }))
})
