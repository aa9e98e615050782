/** Names and records shared by the tests: a Service `miroir-headless` in namespace `default`. */
import { Effect, Layer, Metric } from "effect"
import * as DnsResolver from "../../src/DnsResolver.js"
import type { SrvRecord } from "../../src/DnsResolver.js"
import * as Metrics from "../../src/Metrics.js"
import * as PeerDiscovery from "../../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../../src/PeerDiscoveryConfig.js"
import * as PeerId from "../../src/PeerId.js"

export const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
export const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)

/**
 * The SRV record CoreDNS publishes for a Deployment pod at `ip`, with its address as the additional section
 * carries it (or for a StatefulSet pod named `label`, without).
 */
export const srvFor = (ipOrLabel: string, total = 1): SrvRecord => {
  const ip = ipOrLabel.includes(".") || ipOrLabel.includes(":")
  return {
    name: `${ip ? PeerId.fromIp(ipOrLabel) : ipOrLabel}.${DOMAIN}`,
    port: 7700,
    priority: 0,
    weight: Math.max(1, Math.floor(100 / total)),
    addresses: ip ? [ipOrLabel] : []
  }
}

/** SRV records of pods 10.0.0.1 … 10.0.0.n (this pod is 10.0.0.1 in the test settings). */
export const pods = (n: number): ReadonlyArray<SrvRecord> =>
  Array.from({ length: n }, (_, i) => srvFor(`10.0.0.${i + 1}`, n))

/** Their ids. */
export const podIds = (n: number): ReadonlyArray<string> => Array.from({ length: n }, (_, i) => `10-0-0-${i + 1}`)

/** The count of lookups with `result` so far (metrics are process-wide: compare differences). */
export const lookupCount = (result: Metrics.LookupResult): Effect.Effect<number> =>
  Effect.map(Metric.value(Metrics.lookupsWithResult(result)), (state) => state.count)

/** The in-memory resolver and the test settings (with `overrides`) discovery runs on in these tests. */
export const environment = (overrides: Partial<PeerDiscoveryConfig.Settings> = {}) =>
  Layer.merge(DnsResolver.layerTest, PeerDiscoveryConfig.layerTest(overrides))

/** Publishes `records`, then starts discovery in the test's scope. */
export const startWith = (records: ReadonlyArray<SrvRecord>) =>
  Effect.gen(function*() {
    const dns = yield* DnsResolver.DnsResolverTest
    yield* dns.setSrv(SRV_NAME, records)
    const discovery = yield* PeerDiscovery.make
    return { dns, discovery }
  })

/** The ids in discovery's current set. */
export const peersOf = (discovery: PeerDiscovery.Service) => Effect.map(discovery.current, (set) => set.peers)
