/**
 * A pod process under a flood of expensive requests (issue 11): 300 peers in DNS, hundreds of
 * concurrent `GET /ownership?shards=65536` from four loopback sources (127.18.3.1–4, 100 each: within
 * the connections one source may hold). The pod answers what it can from one computation, refuses the
 * excess with a 503 JSON and `Retry-After` (past the requests it holds at once, or past the `/ownership`
 * gate), keeps answering `/healthz`, and still exits 0 on SIGTERM in the middle of a flood. Functional,
 * not a benchmark: the bounds here are loose (two shared cores); bench/src/podUnderLoad.ts measures the
 * figures. limits.process.test.ts floods past every limit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Rendezvous } from "@miroir/peer-discovery"
import { exchange } from "@miroir/test-support/floods"
import { metricValue } from "@miroir/process-kit/metricsText"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { Schema } from "effect"
import { DOMAIN, SRV_NAME } from "./support/dns.js"
import * as Contract from "@miroir/pod-api"
import { ask, type Pod, podBundle, startPod } from "./support/podUnderTest.js"

const IP = "127.0.2.2"
const PEERS = 300
const FLOOD = 400
const ids = [
  IP.replaceAll(".", "-"),
  ...Array.from({ length: PEERS - 1 }, (_, i) => `127-3-${Math.floor(i / 200)}-${i % 200 + 1}`)
]

/** The flood's source addresses: a source may hold Limits.MAX_CONNECTIONS_PER_SOURCE connections. */
const SOURCES = ["127.18.3.1", "127.18.3.2", "127.18.3.3", "127.18.3.4"]

/**
 * Fires `count` requests at once, each on a connection of its own, spread over {@link SOURCES}; resolves
 * with each status, Retry-After and body. Raw requests, not the API's client: what is checked is the wire
 * (a refusal's `Retry-After` header), and bodies are decoded with the contract's schemas below.
 */
const flood = (url: string, count: number) =>
  Promise.all(Array.from({ length: count }, async (_, i) => {
    const answer = await exchange(url, { localAddress: SOURCES[i % SOURCES.length]!, timeoutMs: 60_000 })
    return answer.status === 0
      ? { status: 0, retryAfter: null, body: answer.error }
      : {
        status: answer.status,
        retryAfter: answer.headers["retry-after"] ?? null,
        body: JSON.parse(String(answer.body))
      }
  }))

/** Probes `/healthz` every 50 ms until `until` settles, at least twice; resolves with each status and latency. */
const probeWhile = async (url: string, until: Promise<unknown>) => {
  let done = false
  void until.finally(() => (done = true))
  const probes: Array<{ status: number; ms: number }> = []
  while (!done || probes.length < 2) {
    const started = performance.now()
    const status = await ask(url, (api) => api.probes.healthz({ responseMode: "decoded-and-response" })).then(
      ([, response]) => response.status,
      () => 0
    )
    probes.push({ status, ms: performance.now() - started })
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return probes
}

describe(`a pod with ${PEERS} peers under ${FLOOD} concurrent /ownership?shards=65536`, () => {
  let unbound: Unbound
  let pod: Pod

  beforeAll(async () => {
    const bundle = await podBundle()
    unbound = await startUnbound({ records: ids.map((id) => `${SRV_NAME} 5 IN SRV 0 1 7700 ${id}.${DOMAIN}`) })
    pod = await startPod(IP, {
      MIROIR_DNS_SERVERS: unbound.server,
      MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "5s",
      MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off",
      // The other peers are names in DNS only: nothing must try to reach them.
      MIROIR_PEER_HINTS: "off",
      MIROIR_LOG_LEVEL: "warn"
    }, bundle)
    await waitUntil(
      `the pod to see ${PEERS} peers`,
      30_000,
      async () => (await ask(pod.url, (api) => api.peers.peers())).peers.length === PEERS
    )
  }, 90_000)

  afterAll(async () => {
    await pod?.stop()
    await unbound?.stop()
  })

  it(
    "answers from one computation, refuses the excess with 503 + Retry-After, and keeps /healthz answering",
    async () => {
      const requests = flood(`${pod.url}/ownership?shards=65536`, FLOOD)
      const healthz = await probeWhile(pod.url, requests)
      const answers = await requests
      const ok = answers.filter((a) => a.status === 200)
      const busy = answers.filter((a) => a.status === 503)
      expect(ok.length + busy.length).toBe(FLOOD)
      expect(ok.length).toBeGreaterThan(0)
      expect(busy.length).toBeGreaterThan(0)
      const expected = Rendezvous.ownedShards(65_536, ids[0]!, [...ids].sort())
      for (const answer of ok) {
        const body = Schema.decodeUnknownSync(Contract.OwnershipBody)(answer.body)
        expect(body.owned).toEqual(expected)
      }
      for (const answer of busy) {
        const body = Schema.decodeUnknownSync(Contract.ErrorBody)(answer.body)
        expect(answer.retryAfter).toBe("1")
        expect(body.retryAfterSeconds).toBe(1)
        expect(body.error).toMatch(/^busy: /)
      }
      // Answered all along; how fast is the benchmark's business (bench/src/podUnderLoad.ts): these two cores
      // are shared with the other suites, so no bound on time here.
      expect(healthz.every((probe) => probe.status === 200)).toBe(true)
      const metrics = await (await fetch(pod.metricsUrl)).text()
      // Refused by the server (past the requests it holds at once) or by the /ownership gate, each counted.
      expect(
        metricValue(metrics, "miroir_ownership_requests_rejected_total")! +
          metricValue(metrics, "miroir_http_refused_total", { reason: "requests_held" })!
      ).toBe(busy.length)
      // One computation for the flood's shard count, one for the worker's MIROIR_SHARDS.
      expect(metricValue(metrics, "miroir_ownership_computations_total")).toBe(2)
      console.log(
        `flood: ${ok.length} answered, ${busy.length} refused; /healthz ${
          healthz.map((p) => Math.round(p.ms)).join(", ")
        } ms`
      )
    },
    60_000
  )

  it("exits 0 on SIGTERM in the middle of a flood", async () => {
    // Another shard count: a computation is running when the signal comes.
    const requests = flood(`${pod.url}/ownership?shards=65535`, FLOOD)
    await new Promise((resolve) => setTimeout(resolve, 200))
    const ended = await pod.stop()
    await requests
    // By itself within STOP_GRACE (support/pod.ts), not killed: code 0 and no signal.
    expect(ended).toMatchObject({ code: 0, signal: null })
    console.log(`SIGTERM during a flood: exit ${ended.code} after ${ended.ms} ms`)
  }, 60_000)
})
