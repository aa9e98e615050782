/**
 * Flapping DNS against real pod processes: each pod's DNS server alternates, lookup by lookup, between
 * the whole set of peers and a partial answer (fewer records, NXDOMAIN, or a TC-flagged answer over
 * TCP). The pods must show no membership change and no ownership move. The server is a scripted one
 * (dns-packet) rather than unbound: alternating per lookup, not per unit of time, is what makes the
 * case exact, and unbound cannot send a truncated answer over TCP for a small set.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { metricValue } from "@miroir/process-kit/metricsText"
import { reply, type Script, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { ask, type Pod, startPod } from "./support/podUnderTest.js"

const IPS = ["127.0.0.31", "127.0.0.32"]
/** The two pods, and six more peers that only exist in DNS: ownership is computed over all eight. */
const PEERS = [...IPS, "127.0.0.33", "127.0.0.34", "127.0.0.35", "127.0.0.36", "127.0.0.37", "127.0.0.38"]
const records = (ips: ReadonlyArray<string>) => ips.map((ip) => srv(SRV_NAME, `${dashed(ip)}.${DOMAIN}`))
const LOOKUPS = 40

/**
 * The script of one pod's server: odd lookups (UDP queries) get the whole set; even ones a partial
 * answer, in turn two records, NXDOMAIN, and a truncated answer (TC over UDP, TC again over TCP).
 */
const flapping = (): Script => {
  let lookups = 0
  return (query, transport) => {
    if (transport === "tcp") return { send: [reply(query, { answers: records(PEERS.slice(0, 2)), truncated: true })] }
    lookups += 1
    if (lookups % 2 === 1) return { send: [reply(query, { answers: records(PEERS) })] }
    switch ((lookups / 2) % 3) {
      case 1:
        return { send: [reply(query, { answers: records(PEERS.slice(0, 2)) })] }
      case 2:
        return { send: [reply(query, { rcode: "NXDOMAIN" })] }
      default:
        return { send: [reply(query, { truncated: true })] }
    }
  }
}

describe("pods against a DNS server that flaps between the whole set and part of it", () => {
  let servers: Array<ScriptedDns> = []
  let pods: Array<Pod> = []

  beforeAll(async () => {
    servers = await Promise.all(IPS.map(() => startScriptedDns(flapping())))
    pods = await Promise.all(IPS.map((ip, i) =>
      startPod(ip, {
        MIROIR_DNS_SERVERS: servers[i]!.server,
        MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "300ms",
        MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "200ms",
        MIROIR_SHARDS: "64",
        // Six of the eight peers exist only in DNS: the failure detector would rightly hold them down and move
        // their shards. This test is about what DNS answers do, alone (health.process.test.ts is the detector's).
        MIROIR_PEER_PROBE_INTERVAL: "off"
      })
    ))
  }, 120_000)
  afterAll(async () => {
    await Promise.all(pods.map((pod) => pod.stop()))
    await Promise.all(servers.map((server) => server.close()))
  })

  it(`${LOOKUPS} alternating lookups change no membership and move no shard`, async () => {
    const udpLookups = (server: ScriptedDns) => server.queries.filter((q) => q.transport === "udp").length
    const snapshot = async (pod: Pod) => {
      const metrics = await (await fetch(pod.metricsUrl)).text()
      return {
        peers: (await ask(pod.url, (api) => api.peers.peers())).peers,
        owned: (await ask(pod.url, (api) => api.ownership.ownership({ query: {} }))).owned,
        changes: metricValue(metrics, "miroir_peer_membership_changes_total") ?? 0,
        podCount: metricValue(metrics, "miroir_peer_pod_count"),
        ownedCount: metricValue(metrics, "miroir_owned_shards_count"),
        unconfirmed: metricValue(metrics, "miroir_peer_discovery_large_shrinks_total", { result: "unconfirmed" }) ?? 0,
        confirmed: metricValue(metrics, "miroir_peer_discovery_large_shrinks_total", { result: "confirmed" }) ?? 0,
        truncated: metricValue(metrics, "miroir_peer_discovery_lookups_total", { result: "truncated" }) ?? 0
      }
    }
    const first = await Promise.all(pods.map(snapshot))
    for (const state of first) {
      expect(state.peers).toEqual(PEERS.map(dashed))
      expect(state.podCount).toBe(8)
    }
    const start = servers.map(udpLookups)
    // Watch /peers and /ownership all along, not only at the end.
    const deadline = Date.now() + 60_000
    while (servers.some((server, i) => udpLookups(server) - start[i]! < LOOKUPS)) {
      if (Date.now() > deadline) throw new Error(`fewer than ${LOOKUPS} lookups in 60 s: ${servers.map(udpLookups)}`)
      const now = await Promise.all(pods.map(snapshot))
      now.forEach((state, i) => {
        expect(state.peers).toEqual(PEERS.map(dashed))
        expect(state.owned).toEqual(first[i]!.owned)
      })
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const last = await Promise.all(pods.map(snapshot))
    last.forEach((state, i) => {
      expect(state.peers).toEqual(PEERS.map(dashed))
      expect(state.owned).toEqual(first[i]!.owned)
      expect(state.ownedCount).toBe(first[i]!.owned.length)
      expect(state.changes).toBe(first[i]!.changes)
      expect(state.confirmed).toBe(0)
      // Every partial answer but the truncated ones (failures, never candidates) was held and dropped.
      expect(state.unconfirmed - first[i]!.unconfirmed).toBeGreaterThanOrEqual(LOOKUPS / 2 / 3 * 2 - 2)
      expect(state.truncated - first[i]!.truncated).toBeGreaterThanOrEqual(LOOKUPS / 2 / 3 - 2)
    })
  }, 120_000)

  it("a real scale-down (the same partial answer twice) is applied: the pods follow it", async () => {
    const two = PEERS.slice(0, 2)
    for (const server of servers) server.setScript((query) => ({ send: [reply(query, { answers: records(two) })] }))
    const before = await Promise.all(
      pods.map(async (pod) =>
        metricValue(await (await fetch(pod.metricsUrl)).text(), "miroir_peer_discovery_large_shrinks_total", {
          result: "confirmed"
        }) ?? 0
      )
    )
    // A tick (at most 1.2 R = 360 ms) plus the confirmation delay (75 ms) and two lookups; generous for a loaded machine.
    await waitUntil(
      "both pods to follow the scale-down to two peers",
      10_000,
      async () =>
        (await Promise.all(pods.map((pod) => ask(pod.url, (api) => api.peers.peers())))).every((body) =>
          body.peers.join() === two.map(dashed).join()
        )
    )
    for (const [i, pod] of pods.entries()) {
      const metrics = await (await fetch(pod.metricsUrl)).text()
      expect(metricValue(metrics, "miroir_peer_discovery_large_shrinks_total", { result: "confirmed" })).toBe(
        before[i]! + 1
      )
      expect(metricValue(metrics, "miroir_peer_pod_count")).toBe(2)
    }
  }, 60_000)
})
