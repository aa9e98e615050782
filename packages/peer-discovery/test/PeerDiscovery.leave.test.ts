/**
 * A pod that leaves (PeerDiscovery's `leave`) on TestClock with the in-memory resolver: it keeps its
 * shards while DNS lists it, and resigns them, in the same refresh, once DNS does not (the flag is
 * published at once when DNS has dropped it already), so that consumers following `refreshes` by
 * `OwnershipView.sameOwnership` (Rendezvous.shardChanges) see the loss.
 */
import { describe, expect, it } from "@effect/vitest"
import { referenceOwnedShards } from "@miroir/test-support/referenceOwner"
import { Duration, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerHealth from "../src/PeerHealth.js"
import * as Rendezvous from "../src/Rendezvous.js"
import { environment, podIds, pods, SRV_NAME, startWith } from "./support/fixtures.js"

/** Long, so that only the lookups the test makes happen. */
const INTERVAL = Duration.seconds(60)

describe("PeerDiscovery leave", () => {
  it.effect("once DNS has dropped this pod, leaving hands its shards to the others at once", () =>
    Effect.gen(function*() {
      // This pod is 10.0.0.1, listed with three others.
      const { discovery, dns } = yield* startWith(pods(4))
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      const updates = yield* rendezvous.shardChanges(64).pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust(0)
      const share = referenceOwnedShards(64, "10-0-0-1", podIds(4))
      expect(share.length).toBeGreaterThan(0)
      expect(yield* rendezvous.ownedShards(64)).toEqual(share)
      // DNS drops it (its deletion); a lookup sees that, and it still counts itself in.
      yield* dns.setSrv(SRV_NAME, pods(4).slice(1))
      const dropped = yield* discovery.refresh
      expect(dropped.selfInDns).toBe(false)
      expect(dropped.peers).toEqual(podIds(4))
      expect(yield* rendezvous.ownedShards(64)).toEqual(share)
      // Leaving: without any lookup or time passing, it owns nothing and the others own its shards.
      yield* discovery.leave
      const [first, second] = yield* Fiber.join(updates)
      expect(first!.owned).toEqual(share)
      expect(second!.owned).toEqual([])
      expect(second!.lost).toEqual(share)
      expect(second!.view.set.leaving).toBe(true)
      for (const shard of share) expect(podIds(4).slice(1)).toContain(yield* rendezvous.ownerOf(String(shard)))
      // Idempotent, and kept by later lookups.
      yield* discovery.leave
      const later = yield* discovery.refresh
      expect(later.leaving).toBe(true)
      expect(yield* rendezvous.ownedShards(64)).toEqual([])
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("while DNS still lists this pod, leaving keeps its shards until a lookup sees it dropped", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(4))
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      yield* TestClock.adjust(0)
      const share = referenceOwnedShards(64, "10-0-0-1", podIds(4))
      yield* discovery.leave
      expect((yield* discovery.current).leaving).toBe(true)
      // The others still count it in: it keeps its shards rather than leave them unowned.
      expect(yield* rendezvous.ownedShards(64)).toEqual(share)
      yield* dns.setSrv(SRV_NAME, pods(4).slice(1))
      // The next tick (R ± 20%) sees it dropped: it resigns then, with no other call.
      yield* TestClock.adjust(Duration.times(INTERVAL, 1.2))
      const set = yield* discovery.current
      expect(set.selfInDns).toBe(false)
      expect(set.leaving).toBe(true)
      expect(yield* rendezvous.ownedShards(64)).toEqual([])
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("waits for a lookup in flight, whose answer then keeps the flag", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(4))
      yield* TestClock.adjust(0)
      yield* dns.setSrv(SRV_NAME, pods(4).slice(1))
      // A lookup that takes a while (the resolver answers after 200 ms), with leave called meanwhile.
      yield* dns.setLatency(Duration.millis(200))
      const lookup = yield* Effect.forkChild(discovery.refresh)
      yield* TestClock.adjust(50)
      const leaving = yield* Effect.forkChild(discovery.leave)
      yield* TestClock.adjust(0)
      expect(leaving.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(200)
      yield* Fiber.join(lookup)
      yield* Fiber.join(leaving)
      const set = yield* discovery.current
      expect(set.selfInDns).toBe(false)
      expect(set.leaving).toBe(true)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))
})
