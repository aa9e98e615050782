/**
 * The leave is the pod's own, between real pod processes (R = 30 s, so that no tick explains anything;
 * DNS a scripted server the test sets, as the endpoints controller would):
 * - an outsider's GET, HEAD or POST on `/leave`, `/LEAVE`, `/leave/` or `//leave` on a listed pod's
 *   network-facing port gets 404 or 405 and changes nothing: its peers receive no `left` hint and it keeps
 *   its shards; its real termination (DNS drops it, the kubelet runs the preStop exec, then SIGTERM)
 *   still hands its shards over within the delay, as today's hook does (an outsider's GET once spent the
 *   leave and left shards unowned for 12.6 s);
 * - a leave while DNS still lists the pod (a hook run too early, a DNS slow to drop it) is not spent: it
 *   answers `listed`, sends no hint and keeps the shards; the real termination then hands over.
 */
import { metricValue } from "@miroir/process-kit/metricsText"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { ask, commonFreePort, type Pod, podBundle, runLeave, startPod } from "./support/podUnderTest.js"

const IPS = ["127.0.0.171", "127.0.0.172", "127.0.0.173", "127.0.0.174"]
const R_MS = 30_000
const SHARDS = 256
/** The preStop delay: the hand-over must be over well within it, as in leave.process.test.ts. */
const DELAY_S = 3

describe("the leave is the pod's own (pod processes, R = 30 s)", () => {
  let bundle = ""
  let dns: ScriptedDns
  let listed: Array<string> = []
  let port = 0
  const pods = new Map<string, Pod>()

  const owned = async (ip: string) =>
    (await ask(pods.get(ip)!.url, (api) => api.ownership.ownership({ query: { shards: SHARDS } }))).owned
  /** The `left` hints a pod received, whatever became of them. */
  const leftHints = async (ip: string) => {
    const text = await (await fetch(pods.get(ip)!.metricsUrl)).text()
    return ["following", "pending", "agreed", "full"].reduce(
      (sum, result) => sum + (metricValue(text, "miroir_peer_discovery_hints_total", { kind: "left", result }) ?? 0),
      0
    )
  }
  const others = (ip: string) => listed.filter((other) => other !== ip)
  /** Whether `owners` cover every shard exactly once between them. */
  const coverOnce = async (owners: ReadonlyArray<string>) => {
    const all = (await Promise.all(owners.map(owned))).flat().sort((a, b) => a - b)
    return all.length === SHARDS && all.every((shard, i) => shard === i)
  }

  /**
   * The pod's real termination, as the kubelet runs it: DNS drops it and the preStop exec runs at once;
   * then SIGTERM. Returns how long after the drop the others owned every shard and it none.
   */
  const terminate = async (ip: string) => {
    const hintsBefore = await Promise.all(others(ip).map(leftHints))
    const peers = others(ip)
    listed = peers
    const dropped = Date.now()
    const hook = runLeave(pods.get(ip)!.env, bundle, ["--delay", `${DELAY_S}s`])
    await waitUntil(
      "the other pods to own every shard and the leaving one none",
      DELAY_S * 1000,
      async () => (await owned(ip)).length === 0 && (await coverOnce(peers))
    )
    const handoverMs = Date.now() - dropped
    const ran = await hook
    expect(ran.code, ran.stderr).toBe(0)
    expect(ran.stdout).toMatch(/^miroir leave: left/)
    expect(ran.ms).toBeGreaterThanOrEqual(DELAY_S * 1000)
    // Every remaining peer got exactly one left hint.
    const hintsAfter = await Promise.all(peers.map(leftHints))
    hintsAfter.forEach((count, i) => expect(count, peers[i]).toBe(hintsBefore[i]! + 1))
    const ended = await pods.get(ip)!.stop()
    pods.delete(ip)
    expect(ended.code).toBe(0)
    return { handoverMs, hookMs: ran.ms, answeredMs: ran.answeredMs }
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
    await waitUntil(
      "the four pods to see each other",
      R_MS / 3,
      async () =>
        (await Promise.all(IPS.map(async (ip) => (await ask(pods.get(ip)!.url, (api) => api.peers.peers())).peers)))
          .every((peers) => peers.join() === IPS.map(dashed).join())
    )
    expect(await coverOnce(IPS)).toBe(true)
  }, 120_000)
  afterAll(async () => {
    await Promise.all([...pods.values()].map((pod) => pod.stop()))
    await dns?.close()
  })

  it(
    "an outsider's leave on the network-facing port gets 404 or 405 and changes nothing; the real termination hands over",
    async () => {
      const ip = IPS[3]!
      const pod = pods.get(ip)!
      const shardsBefore = await owned(ip)
      const hintsBefore = await Promise.all(others(ip).map(leftHints))
      const answers: Array<string> = []
      for (const path of ["/leave", "/leave?delay=5s", "/LEAVE", "/leave/", "//leave"]) {
        for (const method of ["GET", "HEAD", "POST"]) {
          const response = await fetch(`${pod.url}${path}`, { method })
          await response.arrayBuffer()
          answers.push(`${method} ${path} ${response.status}`)
          expect([404, 405], `${method} ${path}`).toContain(response.status)
        }
      }
      console.log(`an outsider's requests: ${answers.join(", ")}`)
      // Time for any hint to have arrived, were one sent.
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(await Promise.all(others(ip).map(leftHints))).toEqual(hintsBefore)
      expect(await owned(ip)).toEqual(shardsBefore)
      expect(await coverOnce(IPS)).toBe(true)
      const { answeredMs, handoverMs, hookMs } = await terminate(ip)
      console.log(
        `after an outsider's requests, the real termination handed over ${handoverMs} ms after DNS dropped the pod (hook ${hookMs} ms, pod answered after ${answeredMs} ms)`
      )
      expect(handoverMs).toBeLessThan(DELAY_S * 1000)
    },
    90_000
  )

  it(
    "a leave while DNS still lists the pod is not spent: no hint, shards kept; the real termination hands over",
    async () => {
      const ip = IPS[2]!
      const shardsBefore = await owned(ip)
      const hintsBefore = await Promise.all(others(ip).map(leftHints))
      const early = await runLeave(pods.get(ip)!.env, bundle, ["--delay", "0s"])
      expect(early.code, early.stderr).toBe(0)
      expect(early.stdout).toMatch(/^miroir leave: listed: DNS still lists this pod/)
      // Its bounded wait for DNS to drop it (2 s) ran out.
      expect(early.answeredMs).toBeGreaterThanOrEqual(2_000)
      expect(await Promise.all(others(ip).map(leftHints))).toEqual(hintsBefore)
      expect(await owned(ip)).toEqual(shardsBefore)
      expect(await coverOnce(listed)).toBe(true)
      const { answeredMs, handoverMs, hookMs } = await terminate(ip)
      console.log(
        `after a leave that found it listed, the real termination handed over ${handoverMs} ms after DNS dropped the pod (hook ${hookMs} ms, pod answered after ${answeredMs} ms)`
      )
      expect(handoverMs).toBeLessThan(DELAY_S * 1000)
    },
    90_000
  )
})
