/** The simulator's DNS server, over real sockets, through the library's node:dns resolver. */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { Duration, Effect, Layer } from "effect"
import * as ClusterDns from "../../src/simulator/ClusterDns.js"
import { defaultService, srvName } from "../../src/simulator/DnsAnswers.js"

const resolverFor = (server: string) =>
  DnsResolver.DnsResolver.pipe(Effect.provide(DnsResolver.layer.pipe(
    Layer.provide(PeerDiscoveryConfig.layerTest({ dnsServers: [server], lookupTimeout: Duration.millis(400) }))
  )))

describe("ClusterDns", () => {
  it.live("serves 50 StatefulSet pods: the UDP answer is truncated and the TCP retry brings them all", () =>
    Effect.gen(function*() {
      const dns = yield* ClusterDns.make(defaultService)
      dns.setEndpoints(Array.from({ length: 50 }, (_, i) => ({ ip: `127.0.1.${i + 1}`, hostname: `miroir-${i}` })))
      const resolver = yield* resolverFor(dns.server)
      const records = yield* resolver.resolveSrv(srvName(defaultService))
      expect(records.map((r) => r.name.split(".")[0]).sort()).toEqual(
        Array.from({ length: 50 }, (_, i) => `miroir-${i}`).sort()
      )
      expect(dns.answered()).toEqual({ udp: 1, tcp: 1 })
    }))

  it.live("answers NXDOMAIN without endpoints, and nothing during an outage", () =>
    Effect.gen(function*() {
      const dns = yield* ClusterDns.make(defaultService)
      const resolver = yield* resolverFor(dns.server)
      expect((yield* Effect.flip(resolver.resolveSrv(srvName(defaultService)))).outcome).toBe("nxdomain")
      dns.setEndpoints([{ ip: "127.0.1.1" }])
      expect(yield* resolver.resolveSrv(srvName(defaultService))).toHaveLength(1)
      dns.setOutage(true)
      expect((yield* Effect.flip(resolver.resolveSrv(srvName(defaultService)))).outcome).toBe("timeout")
      dns.setOutage(false)
      expect(yield* resolver.resolveSrv(srvName(defaultService))).toHaveLength(1)
    }))
})
