/**
 * The preStop hook between real pod processes, run as the kubelet runs the chart's: `node miroir.mjs
 * leave --delay 3s`, a second process with the pod's environment, which asks the pod's admin listener.
 * The refresh interval is long (R = 30 s) so that no tick can explain what is seen: a pod DNS has dropped,
 * asked to leave, tells its peers (they receive a `left` hint) and resigns, so that by the time the
 * command ends (no sooner than the delay) it claims no shard and the others cover every one; SIGTERM then
 * finds the leave over. What is asserted is that order and those counts, not durations: a loaded machine
 * stretches durations, and the figures are the benchmarks'. DNS is a scripted server whose records the test sets, as the endpoints controller
 * would.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { metricValue } from "@miroir/process-kit/metricsText"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { logRecords } from "./support/logs.js"
import { ask, commonFreePort, type Pod, podBundle, runLeave, startPod } from "./support/podUnderTest.js"

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

  it("a pod DNS dropped hands its shards over before the hook ends, and answers no sooner than the delay", async () => {
    const ip = IPS[3]!
    const hintsBefore = await Promise.all(IPS.slice(0, 3).map(leftHints))
    // Its deletion: DNS drops it, and the kubelet calls the hook.
    listed = listed.filter((other) => other !== ip)
    const ran = await runLeave(pods.get(ip)!.env, bundle, ["--delay", `${DELAY_S}s`])
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stdout).toMatch(/^miroir leave: left: DNS no longer lists this pod.*\n$/)
    expect(ran.stderr).toBe("")
    // Lower bounds: a loaded machine only makes them longer.
    expect(ran.ms).toBeGreaterThanOrEqual(DELAY_S * 1000)
    expect(ran.answeredMs).toBeGreaterThanOrEqual(DELAY_S * 1000)
    // Handed over by the time the hook ends, i.e. before the kubelet would send SIGTERM: the pod answers
    // only once its leave is over (hints sent, shards resigned), and its peers' lookups had the rest of
    // the delay. By outcome, at that moment, and by hint: each peer received its left hint (R = 30 s).
    expect(await handedOver(ip)()).toBe(true)
    const hintsAfter = await Promise.all(IPS.slice(0, 3).map(leftHints))
    hintsAfter.forEach((count, i) => expect(count, IPS[i]).toBe(hintsBefore[i]! + 1))
    // A second call answers the leave that completed, without running it again: no second round of hints.
    const again = await runLeave(pods.get(ip)!.env, bundle, ["--delay", "0s"])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/^miroir leave: left/)
    expect(await Promise.all(IPS.slice(0, 3).map(leftHints))).toEqual(hintsAfter)
    // SIGTERM then finds the leave over: the pod exits by itself (code 0, no signal: within STOP_GRACE,
    // support/pod.ts), with no second round of hints.
    const ended = await pods.get(ip)!.stop()
    pods.delete(ip)
    expect(ended).toMatchObject({ code: 0, signal: null })
    const hintsAtExit = await Promise.all(IPS.slice(0, 3).map(leftHints))
    expect(hintsAtExit).toEqual(hintsAfter)
  }, 60_000)

  it("a pod DNS drops only after the hook was called leaves in that same call, before the hook ends", async () => {
    const ip = IPS[2]!
    const hintsBefore = await Promise.all(IPS.slice(0, 2).map(leftHints))
    // The hook first; DNS drops the pod once the pod has received it, while the pod looks itself up. How
    // soon its lookups see the drop (every 100 ms at most) is Leave.procedure's, on TestClock
    // (LeaveProcedure.test.ts); here, that the same call then completes the leave.
    const hook = runLeave(pods.get(ip)!.env, bundle, ["--delay", `${DELAY_S}s`])
    const pod = pods.get(ip)!
    // Its record of the request: at INFO, with the hook's delay.
    await waitUntil(
      "the pod to receive the leave",
      30_000,
      async () =>
        logRecords(pod.process.output()).some((record) =>
          record.level === "INFO" && record.annotations.delay === `${DELAY_S}s`
        )
    )
    listed = listed.filter((other) => other !== ip)
    const ran = await hook
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stdout).toMatch(/^miroir leave: left/)
    expect(await handedOver(ip)()).toBe(true)
    const hintsAfter = await Promise.all(IPS.slice(0, 2).map(leftHints))
    hintsAfter.forEach((count, i) => expect(count, IPS[i]).toBe(hintsBefore[i]! + 1))
  }, 60_000)
})
