/**
 * The application's metrics exported over OTLP/HTTP (JSON) to a receiver on loopback: the library's
 * `miroir_peer_pod_count` arrives with the size of the peer set.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { Effect, Layer } from "effect"
import { OtlpExporter } from "effect/observability"
import { Ownership, Telemetry } from "../src/App.ts"
import { otlpReceiver, valueOf } from "./support/otlpReceiver.ts"

/** The application's ownership as pod `pod-a` at 10.0.0.1, over the test resolver. */
const TestOwnership = Ownership.pipe(
  Layer.provideMerge(DnsResolver.layerTest),
  Layer.provide(PeerDiscoveryConfig.layerTest())
)

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const pod = (n: number) => ({
  name: `10-0-0-${n}.${PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)}`,
  port: 7700,
  priority: 0,
  weight: 33
})

describe("the application's metrics over OTLP", () => {
  it.live("exports miroir_peer_pod_count to the collector", () =>
    Effect.gen(function*() {
      const receiver = yield* otlpReceiver

      yield* Effect.gen(function*() {
        yield* (yield* DnsResolver.DnsResolverTest).setSrv(SRV_NAME, [pod(1), pod(2), pod(3)])
        // Look up now rather than at the next refresh.
        yield* (yield* PeerDiscovery.PeerDiscovery).refresh

        // Export now rather than at the interval: `flush` returns once the receiver has answered.
        yield* (yield* OtlpExporter.Flusher).flush
        expect(receiver.dataPoints("miroir_peer_pod_count").map(valueOf).at(-1)).toBe(3)
      }).pipe(Effect.provide(Layer.merge(TestOwnership, Telemetry(receiver.url))))
    }))
})
