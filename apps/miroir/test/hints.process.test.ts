/**
 * Refresh hints between real pod processes, with the refresh interval set long (R = 30 s) so that no
 * tick can explain what is seen: a pod that joins and a pod that leaves gracefully are followed by
 * every pod in well under R; a flood of hints costs a bounded number of lookups; a hint DNS does not
 * confirm changes no set. DNS is a scripted server whose records the test sets, as the endpoints
 * controller would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exchange } from "@miroir/test-support/floods"
import { metricValue } from "@miroir/test-support/metricsText"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processes"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import type { HintAnswer, HintBody } from "../src/HttpApi/Contract.js"
import { ask, commonFreePort, type Pod, podBundle, startPod } from "./support/pod.js"

const IPS = ["127.0.0.51", "127.0.0.52", "127.0.0.53"]
const R_MS = 30_000
/** Well under R: what the hints must beat, generous for a loaded two-core machine. */
const BOUND_MS = R_MS / 3

describe("refresh hints between pod processes (R = 30 s)", () => {
  let dns: ScriptedDns
  let listed: Array<string> = []
  let port = 0
  let bundle = ""
  const pods = new Map<string, Pod>()

  const env = () => ({
    MIROIR_DNS_SERVERS: dns.server,
    MIROIR_HTTP_PORT: String(port),
    MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: `${R_MS}ms`,
    MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "1s"
  })
  const peersOf = async (ip: string): Promise<ReadonlyArray<string>> =>
    (await ask(pods.get(ip)!.url, (api) => api.peers.peers())).peers
  const allSee = (ips: ReadonlyArray<string>) => async () =>
    (await Promise.all(ips.map(peersOf))).every((peers) => peers.join() === ips.map(dashed).join())
  const metrics = async (ip: string) => (await fetch(pods.get(ip)!.metricsUrl)).text()
  const lookups = async (ip: string) => {
    const text = await metrics(ip)
    return ["ok", "nxdomain", "nodata", "timeout", "servfail", "refused", "truncated", "error"]
      .reduce((sum, result) => sum + (metricValue(text, "miroir_peer_discovery_lookups_total", { result }) ?? 0), 0)
  }
  const changes = async (ip: string) => metricValue(await metrics(ip), "miroir_peer_membership_changes_total") ?? 0

  beforeAll(async () => {
    dns = await startScriptedDns((query) =>
      listed.length === 0
        ? { send: [reply(query, { rcode: "NXDOMAIN" })] }
        : { send: [reply(query, { answers: listed.map((ip) => srv(SRV_NAME, `${dashed(ip)}.${DOMAIN}`, port)) })] }
    )
    port = await commonFreePort(IPS)
    bundle = await podBundle()
    // The first two pods, published once ready, as an endpoint slice would.
    for (const ip of IPS.slice(0, 2)) {
      pods.set(ip, await startPod(ip, env(), bundle))
      listed = [...listed, ip]
    }
    // Both see both: the second one's joined hint told the first one.
    await waitUntil("the first two pods to see each other", BOUND_MS, allSee(IPS.slice(0, 2)))
  }, 120_000)
  afterAll(async () => {
    await Promise.all([...pods.values()].map((pod) => pod.stop()))
    await dns?.close()
  })

  it("a pod that joins is seen by every pod in well under R", async () => {
    const ip = IPS[2]!
    pods.set(ip, await startPod(ip, env(), bundle))
    const published = Date.now()
    listed = [...listed, ip]
    await waitUntil("every pod to see the third one", BOUND_MS, allSee(IPS))
    const took = Date.now() - published
    console.log(`join seen by every pod ${took} ms after DNS published it (R = ${R_MS} ms)`)
    expect(took).toBeLessThan(BOUND_MS)
  }, 60_000)

  it("a flood of hints costs a bounded number of lookups and changes no set DNS does not confirm", async () => {
    const target = pods.get(IPS[0]!)!
    const lookupsBefore = await lookups(IPS[0]!)
    const changesBefore = await changes(IPS[0]!)
    const started = Date.now()
    // Posted as they are, each on a connection of its own, from seven loopback sources (127.18.4.1–7):
    // a source may hold only so many connections (HttpApi/Limits.ts), and a flood from one would mostly
    // be closed as it arrives, never reaching discovery.
    let sent = 0
    const post = (body: unknown) =>
      exchange(`${target.url}/hints`, {
        method: "POST",
        localAddress: `127.18.4.${1 + sent++ % 7}`,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body)
      }).then((answer) => ({
        status: answer.status,
        body: answer.status === 200 ? JSON.parse(String(answer.body)) as typeof HintAnswer.Type : undefined
      }))
    const hint = (payload: typeof HintBody.Type) => post(payload)
    // 300 copies of a hint DNS does not confirm (a peer that is not there), and of one saying a listed
    // peer left; 100 about made-up peers; and a few that are not hints at all, or too big.
    const answers = await Promise.all([
      ...Array.from({ length: 300 }, () => hint({ kind: "joined", peer: "127-0-0-99" })),
      ...Array.from({ length: 300 }, () => hint({ kind: "left", peer: dashed(IPS[1]!) })),
      ...Array.from(
        { length: 100 },
        (_, i) => hint({ kind: "joined", peer: `10-9-${Math.floor(i / 250)}-${i % 250}` })
      ),
      post({ kind: "moved", peer: "x" }),
      post("not json at all")
    ])
    // A hint padded past the size read (1 kB): a 413, not read whole, and no reset.
    const padded = await post({ kind: "joined", peer: "127-0-0-99", padding: "x".repeat(100_000) })
    expect(padded.status).toBe(413)
    const floodMs = Date.now() - started
    // Each hint taken (200), or refused at once with a 503 past the requests the pod holds at once.
    expect(answers.slice(0, 700).every((answer) => answer.status === 200 || answer.status === 503)).toBe(true)
    expect(answers.slice(700).map((answer) => answer.status)).toEqual([400, 400])
    const results = answers.slice(0, 700).flatMap((answer) => (answer.body === undefined ? [] : [answer.body.result]))
    expect(results.filter((result) => result === "following").length).toBeLessThanOrEqual(64)
    // Sets never move while the hints are followed, nor after their budget (min(R, 10 s)) ends.
    const watchUntil = Date.now() + 11_000
    while (Date.now() < watchUntil) {
      for (const ip of IPS) expect(await peersOf(ip)).toEqual(IPS.map(dashed))
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(await changes(IPS[0]!)).toBe(changesBefore)
    const cost = (await lookups(IPS[0]!)) - lookupsBefore
    // At most one lookup per 100 ms while hints came, then the backoff (≤ 1 a second) over the budget.
    const bound = Math.ceil(floodMs / 100) + 2 + 15
    console.log(`700 hints in ${floodMs} ms cost ${cost} lookups (bound ${bound})`)
    expect(cost).toBeLessThanOrEqual(bound)
    expect(cost).toBeGreaterThan(0)
  }, 60_000)

  it("a pod that stops gracefully is dropped by every pod in well under R", async () => {
    const ip = IPS[2]!
    const pod = pods.get(ip)!
    // SIGTERM first, DNS drops it half a second later: the pod waits for DNS before its left hints.
    const stopping = pod.stop()
    await new Promise((resolve) => setTimeout(resolve, 500))
    const unpublished = Date.now()
    listed = listed.filter((other) => other !== ip)
    const ended = await stopping
    pods.delete(ip)
    expect(ended.code).toBe(0)
    expect(ended.ms).toBeLessThan(5_000)
    await waitUntil("the other pods to drop the third one", BOUND_MS, allSee(IPS.slice(0, 2)))
    const took = Date.now() - unpublished
    console.log(`leave seen by every pod ${took} ms after DNS dropped it; the pod exited in ${ended.ms} ms`)
    expect(took).toBeLessThan(BOUND_MS)
  }, 60_000)
})
