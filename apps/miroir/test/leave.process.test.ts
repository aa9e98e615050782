/**
 * The preStop hook between real pod processes, run as the kubelet runs the chart's: `node miroir.mjs
 * leave --delay 3s`, a second process with the pod's environment, which asks the pod's admin listener.
 * The refresh interval is long (R = 30 s) so that no tick can explain what is seen: a pod DNS has dropped,
 * asked to leave, tells its peers (they receive a `left` hint) and resigns, so that well before the
 * command ends (no sooner than the delay) it claims no shard and the others cover every one; SIGTERM then
 * finds the leave over. DNS is a scripted server whose records the test sets, as the endpoints controller
 * would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { metricValue } from "@miroir/test-support/metricsText"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processes"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { ask, commonFreePort, type Pod, podBundle, runLeave, startPod } from "./support/pod.js"

const IPS = ["127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"]
const R_MS = 30_000
const SHARDS = 256
/** The hook's delay: the leave must be over well within it. */
const DELAY_S = 3

describe("`miroir leave` (the preStop exec) between pod processes (R = 30 s)", () => {
  let bundle = ""
  let dns: ScriptedDns
  let listed: Array<string> = []
  let port = 0
  const pods = new Map<string, Pod>()

  const owned = async (ip: string) =>
    (await ask(pods.get(ip)!.url, (api) => api.ownership.ownership({ query: { shards: SHARDS } }))).owned
  const leftHints = async (ip: string) => {
    const text = await (await fetch(pods.get(ip)!.metricsUrl)).text()
    return ["following", "pending", "agreed", "full"].reduce(
      (sum, result) => sum + (metricValue(text, "miroir_peer_discovery_hints_total", { kind: "left", result }) ?? 0),
      0
    )
  }
  /** Whether the pods still listed cover every shard exactly once between them, and `leaver` claims none. */
  const handedOver = (leaver: string) => async () => {
    const kept = await Promise.all(listed.map(owned))
    const all = kept.flat().sort((a, b) => a - b)
    return (await owned(leaver)).length === 0 && all.length === SHARDS && all.every((shard, i) => shard === i)
  }

  beforeAll(async () => {
    dns = await startScriptedDns((query) =>
      listed.length === 0
        ? { send: [reply(query, { rcode: "NXDOMAIN" })] }
        : { send: [reply(query, { answers: listed.map((ip) => srv(SRV_NAME, `${dashed(ip)}.${DOMAIN}`, port)) })] }
    )
    port = await commonFreePort(IPS)
    bundle = await podBundle()
    for (const ip of IPS) {
      pods.set(
        ip,
        await startPod(ip, {
          MIROIR_DNS_SERVERS: dns.server,
          MIROIR_HTTP_PORT: String(port),
          MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: `${R_MS}ms`,
          MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "1s"
        }, bundle)
      )
      listed = [...listed, ip]
    }
    // Every pod sees the three (the joined hints), and they split the shards among them.
    await waitUntil(
      "the three pods to see each other",
      R_MS / 3,
      async () =>
        (await Promise.all(IPS.map(async (ip) => (await ask(pods.get(ip)!.url, (api) => api.peers.peers())).peers)))
          .every((peers) => peers.join() === IPS.map(dashed).join())
    )
    for (const ip of IPS) expect((await owned(ip)).length).toBeGreaterThan(0)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([...pods.values()].map((pod) => pod.stop()))
    await dns?.close()
  })

  it("a pod DNS dropped hands its shards over well within the delay, and answers no sooner than it", async () => {
    const ip = IPS[3]!
    const hintsBefore = await Promise.all(IPS.slice(0, 3).map(leftHints))
    // Its deletion: DNS drops it, and the kubelet calls the hook.
    listed = listed.filter((other) => other !== ip)
    const dropped = Date.now()
    const hook = runLeave(pods.get(ip)!.env, bundle, ["--delay", `${DELAY_S}s`])
    await waitUntil("the other pods to own every shard and the leaving one none", DELAY_S * 1000, handedOver(ip))
    const handoverMs = Date.now() - dropped
    const ran = await hook
    console.log(
      `shards handed over ${handoverMs} ms after DNS dropped the pod; the hook ended after ${ran.ms} ms (pod answered after ${ran.answeredMs} ms)`
    )
    expect(handoverMs).toBeLessThan(DELAY_S * 1000)
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stdout).toMatch(/^miroir leave: left: DNS no longer lists this pod.*\n$/)
    expect(ran.stderr).toBe("")
    expect(ran.ms).toBeGreaterThanOrEqual(DELAY_S * 1000)
    expect(ran.answeredMs).toBeGreaterThanOrEqual(DELAY_S * 1000)
    // Each peer received its left hint (no tick could have come: R = 30 s).
    const hintsAfter = await Promise.all(IPS.slice(0, 3).map(leftHints))
    hintsAfter.forEach((count, i) => expect(count, IPS[i]).toBe(hintsBefore[i]! + 1))
    expect(await handedOver(ip)()).toBe(true)
    // A second call answers the leave that completed: the pod answers at once.
    const again = await runLeave(pods.get(ip)!.env, bundle, ["--delay", "0s"])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/^miroir leave: left/)
    expect(again.answeredMs).toBeLessThan(1_000)
    // SIGTERM then finds the leave over: the pod exits at once, with no second round of hints.
    const ended = await pods.get(ip)!.stop()
    pods.delete(ip)
    expect(ended.code).toBe(0)
    expect(ended.ms).toBeLessThan(2_000)
    const hintsAtExit = await Promise.all(IPS.slice(0, 3).map(leftHints))
    expect(hintsAtExit).toEqual(hintsAfter)
  }, 60_000)

  it(
    "a pod DNS drops only after the hook was called hands its shards over within a few lookups of the drop",
    async () => {
      const ip = IPS[2]!
      // The hook first; DNS drops the pod 800 ms after the pod received it, while the pod looks itself up
      // (its lookups back off from 50 ms to every 100 ms: a doubling backoff would see the drop only at
      // 1.55 s, 750 ms late).
      const hook = runLeave(pods.get(ip)!.env, bundle, ["--delay", `${DELAY_S}s`])
      const pod = pods.get(ip)!
      await waitUntil(
        "the pod to receive the leave",
        30_000,
        async () => pod.process.output().includes("leave requested (admin listener)")
      )
      await new Promise((resolve) => setTimeout(resolve, 800))
      listed = listed.filter((other) => other !== ip)
      const dropped = Date.now()
      await waitUntil("the other pods to own every shard and the leaving one none", DELAY_S * 1000, handedOver(ip))
      const handoverMs = Date.now() - dropped
      console.log(`shards handed over ${handoverMs} ms after DNS dropped the pod (hook called 800 ms before)`)
      expect(handoverMs).toBeLessThan(500)
      const ran = await hook
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toMatch(/^miroir leave: left/)
    },
    60_000
  )
})
