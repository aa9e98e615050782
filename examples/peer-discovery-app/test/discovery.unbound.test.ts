/**
 * The application's layer provided to the app, in a pod's environment, against a real DNS server: unbound
 * on loopback publishes three ready pods of the headless Service `miroir-headless` as CoreDNS would.
 */
import { describe, expect, it } from "@effect/vitest"
import { Metrics, PeerDiscovery, Rendezvous } from "@miroir/peer-discovery"
import { ConfigProvider, Effect, Layer, Metric, Schedule } from "effect"
import { OwnershipLive, SHARDS, Worker } from "../src/App.ts"
import { unbound } from "./support/unbound.ts"

const DOMAIN = "miroir-headless.default.svc.cluster.local."
const SRV_NAME = `_http._tcp.${DOMAIN}`
const IPS = ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
/** A Deployment pod's id: its dashed IP, the first label of its SRV target. */
const idOf = (ip: string) => ip.replaceAll(".", "-")

/** The SRV records of the Service's named port `http`, and the A records of their targets. */
const RECORDS = IPS.flatMap((ip) => [
  `${SRV_NAME} 5 IN SRV 0 33 7700 ${idOf(ip)}.${DOMAIN}`,
  `${idOf(ip)}.${DOMAIN} 5 IN A ${ip}`
])

/** The environment of the pod at 10.1.0.1, as the Downward API and a chart would set it. */
const podEnvironment = (dnsServer: string) =>
  ConfigProvider.layer(ConfigProvider.fromUnknown({
    POD_NAME: "example-5c8d7b9f4-x2x7q",
    POD_NAMESPACE: "default",
    POD_IP: "10.1.0.1",
    MIROIR_PEER_DISCOVERY_SERVICE: "miroir-headless",
    MIROIR_CLUSTER_DOMAIN: "cluster.local",
    // In a cluster it stays unset: the servers of /etc/resolv.conf, CoreDNS.
    MIROIR_DNS_SERVERS: dnsServer
  }))

describe("the application against unbound", () => {
  it.live("sees its peers and owns its shards", () =>
    Effect.gen(function*() {
      const dns = yield* unbound(RECORDS, SRV_NAME)
      const App = Worker.pipe(Layer.provideMerge(OwnershipLive), Layer.provide(podEnvironment(dns.server)))

      yield* Effect.gen(function*() {
        // The first lookup was made while the layer was built: the peers are there from the start.
        const peers = yield* (yield* PeerDiscovery.PeerDiscovery).current
        expect(peers.peers).toEqual(IPS.map(idOf))
        expect(peers.self).toBe("10-1-0-1")
        expect(peers.selfInDns).toBe(true)

        const owned = yield* (yield* Rendezvous.Rendezvous).ownedShards(SHARDS)
        expect(owned.length).toBeGreaterThan(0)
        // Each pod computes every pod's share alike: the three shares split the shards, one owner each.
        const shares = peers.peers.map((peer) => Rendezvous.ownedShards(SHARDS, peer, peers.peers))
        expect(shares[0]).toEqual(owned)
        expect(shares.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: SHARDS }, (_, shard) => shard))

        // The worker, in its own fiber, has taken them.
        const taken = yield* Metric.value(Metrics.ownedShards).pipe(
          Effect.repeat({ until: (gauge) => gauge.value === owned.length, schedule: Schedule.spaced("20 millis") })
        )
        expect(taken.value).toBe(owned.length)
        expect((yield* Metric.value(Metrics.peerPodCount)).value).toBe(3)
      }).pipe(Effect.provide(App))
    }))
})
