/**
 * Refresh hints between real pod processes, with the refresh interval set long (R = 30 s) so that no
 * tick can explain what is seen: a pod that joins and a pod that leaves gracefully are followed by
 * every pod in well under R; an outsider's hints are refused on arrival and cost no lookup; a peer's
 * flood costs a bounded number of lookups; a hint DNS does not confirm changes no set. DNS is a scripted server whose records the test sets, as the endpoints
 * controller would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { metricValue } from "@miroir/test-support/metricsText"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processes"
import { Effect } from "effect"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import type { HintBody } from "../src/HttpApi/Contract.js"
import { ask, askFrom, commonFreePort, type Pod, podBundle, send, startPod } from "./support/pod.js"

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

  /** Hints counted by the discovery of the pod at `ip` (every result): what reached it. */
  const hintsTaken = async (ip: string) => {
    const text = await metrics(ip)
    return ["following", "pending", "agreed", "full", "off"].reduce(
      (sum, result) =>
        sum + ["joined", "left"].reduce(
          (kinds, kind) => kinds + (metricValue(text, "miroir_peer_discovery_hints_total", { kind, result }) ?? 0),
          0
        ),
      0
    )
  }
  const refused = async (ip: string, reason: string) =>
    metricValue(await metrics(ip), "miroir_hints_refused_total", { reason }) ?? 0

  it("an outsider's flood of hints is refused on arrival and costs no lookup, whatever its content type", async () => {
    const target = pods.get(IPS[0]!)!
    const [lookupsBefore, takenBefore, sourceBefore, typeBefore] = [
      await lookups(IPS[0]!),
      await hintsTaken(IPS[0]!),
      await refused(IPS[0]!, "source"),
      await refused(IPS[0]!, "content_type")
    ]
    const started = Date.now()
    // From this process's address (127.0.0.1): neither a pod it names nor a peer of the view.
    const hint = (payload: typeof HintBody.Type) =>
      ask(target.url, (api) =>
        api.hints.hint({ payload }).pipe(
          Effect.match({ onFailure: (error) => error._tag as string, onSuccess: () => "taken" })
        ))
    const json = JSON.stringify({ kind: "left", peer: dashed(IPS[1]!) })
    const answers = await Promise.all([
      ...Array.from({ length: 300 }, () => hint({ kind: "joined", peer: "127-0-0-99" })),
      ...Array.from({ length: 300 }, () => hint({ kind: "left", peer: dashed(IPS[1]!) })),
      ...Array.from({ length: 100 }, (_, i) => hint({ kind: "joined", peer: `miroir-${i}` }))
    ])
    // Cross-site "simple" requests a browser page could send: a form, text/plain, no content type.
    const simple = await Promise.all(
      [{ "content-type": "application/x-www-form-urlencoded" }, { "content-type": "text/plain" }, {}].map((headers) =>
        send(`${target.url}/hints`, { method: "POST", headers, body: json })
      )
    )
    const ms = Date.now() - started
    expect(new Set(answers)).toEqual(new Set(["Forbidden"]))
    expect(simple.map((answer) => answer.status)).toEqual([415, 415, 415])
    expect(await refused(IPS[0]!, "source")).toBe(sourceBefore + 700)
    expect(await refused(IPS[0]!, "content_type")).toBe(typeBefore + 3)
    // Not one reached discovery, and no lookup came of them (a tick, every 24 s at least, may have).
    expect(await hintsTaken(IPS[0]!)).toBe(takenBefore)
    const cost = (await lookups(IPS[0]!)) - lookupsBefore
    console.log(`an outsider's 703 hints in ${ms} ms: all refused, ${cost} lookups meanwhile (ticks only)`)
    expect(cost).toBeLessThanOrEqual(Math.ceil(ms / (0.8 * R_MS)))
  }, 60_000)

  it(
    "a flood of hints from a peer costs a bounded number of lookups and changes no set DNS does not confirm",
    async () => {
      const target = pods.get(IPS[0]!)!
      // From the address of the second pod, a peer of the view: taken.
      const from = IPS[1]!
      const lookupsBefore = await lookups(IPS[0]!)
      const changesBefore = await changes(IPS[0]!)
      const started = Date.now()
      const hint = (payload: typeof HintBody.Type) =>
        askFrom(from, target.url, (api) => api.hints.hint({ payload, withResponse: true }))
          .then(([body, response]) => ({ status: response.status, body }))
      // Hints go through the API's client; what is not a hint cannot, so it is posted as it is.
      const post = (body: unknown) =>
        send(`${target.url}/hints`, {
          method: "POST",
          body: JSON.stringify(body),
          headers: { "content-type": "application/json" },
          localAddress: from
        })
      // 300 copies of a hint DNS does not confirm (a peer that is not there), and of one saying a listed
      // peer left; 100 about made-up peers; and a few that are not hints at all.
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
      const floodMs = Date.now() - started
      expect(answers.slice(0, 700).every((answer) => answer.status === 200)).toBe(true)
      expect(answers.slice(700).map((answer) => answer.status)).toEqual([400, 400])
      const results = answers.slice(0, 700).flatMap((answer) =>
        "body" in answer && typeof answer.body === "object" && "result" in answer.body ? [answer.body.result] : []
      )
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
      console.log(`a peer's 700 hints in ${floodMs} ms cost ${cost} lookups (bound ${bound})`)
      expect(cost).toBeLessThanOrEqual(bound)
      expect(cost).toBeGreaterThan(0)
    },
    60_000
  )

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
