/**
 * The application's ownership over the library's in-memory resolver (`DnsResolver.layerTest`) instead of
 * DNS, on the `TestClock`: a refresh interval passes without waiting for it.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId, Rendezvous } from "@miroir/peer-discovery"
import { Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Ownership, SHARDS } from "../src/App.ts"

/** The application's ownership as pod `pod-a` at 10.0.0.1 (`PeerDiscoveryConfig.testSettings`), over the test resolver. */
const TestOwnership = Ownership.pipe(
  Layer.provideMerge(DnsResolver.layerTest),
  Layer.provide(PeerDiscoveryConfig.layerTest())
)

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
/** The SRV record of the pod at 10.0.0.`n`. */
const pod = (n: number) => ({
  name: `10-0-0-${n}.${PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)}`,
  port: 7700,
  priority: 0,
  weight: 33
})

describe("the application over the test resolver", () => {
  it.effect("takes its share of the shards one refresh interval after DNS lists its peers", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResolver.DnsResolverTest
      const rendezvous = yield* Rendezvous.Rendezvous
      const changes = yield* rendezvous.shardChanges(SHARDS).pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      // Let the subscriber start before anything changes.
      yield* Effect.yieldNow

      // The test resolver starts empty: the first lookup got NXDOMAIN, so the pod is alone and owns every shard.
      expect(yield* rendezvous.ownedShards(SHARDS)).toHaveLength(SHARDS)

      yield* dns.setSrv(SRV_NAME, [pod(1), pod(2), pod(3)])
      // The next lookup is due within the refresh interval, 15 s ± 20%: the TestClock gets there at once.
      yield* TestClock.adjust("18 seconds")

      expect((yield* (yield* PeerDiscovery.PeerDiscovery).current).peers).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-3"])
      const [alone, three] = yield* Fiber.join(changes)
      expect(alone?.owned).toHaveLength(SHARDS)
      expect(three?.owned).toEqual(Rendezvous.ownedShards(SHARDS, "10-0-0-1", ["10-0-0-1", "10-0-0-2", "10-0-0-3"]))
      // It gave up what the two others won, and gained nothing.
      expect(three?.lost).toHaveLength(SHARDS - (three?.owned.length ?? 0))
      expect(three?.gained).toEqual([])
    }).pipe(Effect.provide(TestOwnership)))
})
