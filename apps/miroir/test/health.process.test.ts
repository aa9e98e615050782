/**
 * The failure detector between real pod processes on loopback, over real HTTP, with the refresh interval
 * long (R = 30 s): only the probes can explain what is seen. While DNS lists every pod, as it does a dead
 * node's pods for about a minute, a pod stopped with SIGSTOP (a frozen process: it accepts connections and
 * answers nothing) is held down by every other pod, which take its shards over between them; resumed with
 * SIGCONT, it gets them back. A stranger cannot make a pod probe anything. A pod killed with SIGKILL and
 * dropped by DNS at once (a crash) is dropped by every survivor well before their next tick: the first to
 * probe it tells the others.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exchange } from "@miroir/test-support/floods"
import { metricValue } from "@miroir/process-kit/metricsText"
import { reply, type ScriptedDns, srv, startScriptedDns } from "@miroir/test-support/scriptedDns"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { logRecords } from "./support/logs.js"
import { ask, commonFreePort, type Pod, podBundle, startPod } from "./support/podUnderTest.js"

const IPS = ["127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74"]
const SHARDS = 64
const R_MS = 30_000
/**
 * The deadline of the waits: a third of R, far past what the defaults take when the machine is idle (a dead
 * peer is held down about 4 s after it stops, BENCHMARKS §11), generous for a loaded two-core machine.
 */
const BOUND_MS = R_MS / 3

describe("the failure detector between pod processes (R = 30 s)", () => {
  let dns: ScriptedDns
  let port = 0
  /** The pods DNS lists. */
  let listed = [...IPS]
  const pods = new Map<string, Pod>()

  beforeAll(async () => {
    dns = await startScriptedDns((query) => ({
      send: [reply(query, { answers: listed.map((ip) => srv(SRV_NAME, `${dashed(ip)}.${DOMAIN}`, port)) })]
    }))
    port = await commonFreePort(IPS)
    const bundle = await podBundle()
    for (const ip of IPS) {
      pods.set(
        ip,
        await startPod(ip, {
          MIROIR_DNS_SERVERS: dns.server,
          MIROIR_HTTP_PORT: String(port),
          MIROIR_SHARDS: String(SHARDS),
          MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: `${R_MS}ms`,
          MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "1s"
        }, bundle)
      )
    }
  }, 120_000)
  afterAll(async () => {
    // A pod left stopped would not take its SIGTERM.
    for (const pod of pods.values()) pod.process.child.kill("SIGCONT")
    await Promise.all([...pods.values()].map((pod) => pod.stop()))
    await dns?.close()
  })

  const peersOf = (ip: string) => ask(pods.get(ip)!.url, (api) => api.peers.peers())
  const ownershipOf = (ip: string) => ask(pods.get(ip)!.url, (api) => api.ownership.ownership({ query: {} }))
  const downCount = async (ip: string) =>
    metricValue(await (await fetch(pods.get(ip)!.metricsUrl)).text(), "miroir_peer_suspicions_total", {
      result: "down"
    }) ?? 0

  it(
    "holds a frozen pod down on every other pod, which share its shards, and gives them back when it resumes",
    async () => {
      const frozen = IPS[3]!
      const others = IPS.slice(0, 3)
      await waitUntil(
        "every pod to see the four",
        BOUND_MS,
        async () => (await Promise.all(IPS.map(peersOf))).every((body) => body.peers.length === 4)
      )
      pods.get(frozen)!.process.child.kill("SIGSTOP")
      try {
        await waitUntil(
          "every other pod to hold the frozen one down",
          BOUND_MS,
          async () => (await Promise.all(others.map(peersOf))).every((body) => body.down.includes(dashed(frozen)))
        )
        const answers = await Promise.all(others.map(ownershipOf))
        const claims = answers.flatMap((answer) => answer.owned)
        // Every shard owned once, by the three, over the same view without the frozen pod.
        expect([...claims].sort((a, b) => a - b)).toEqual(Array.from({ length: SHARDS }, (_, i) => i))
        for (const answer of answers) expect(answer.peers).toEqual(others.map(dashed))
        // DNS still lists it: discovery's peers are DNS's.
        expect((await peersOf(others[0]!)).peers).toContain(dashed(frozen))
      } finally {
        pods.get(frozen)!.process.child.kill("SIGCONT")
      }
      await waitUntil(
        "every pod to count the resumed one again",
        BOUND_MS,
        async () => (await Promise.all(IPS.map(ownershipOf))).every((answer) => answer.peers.length === 4)
      )
      const owned = (await Promise.all(IPS.map(ownershipOf))).flatMap((answer) => answer.owned)
      expect(owned.sort((a, b) => a - b)).toEqual(Array.from({ length: SHARDS }, (_, i) => i))
    },
    4 * BOUND_MS
  )

  it("answers a probe only for a peer, and only to a peer; a stranger's asks cost it no probe and no verdict", async () => {
    const target = pods.get(IPS[0]!)!
    const asked = `${target.url}/probe?peer=${dashed(IPS[1]!)}`
    const before = await downCount(IPS[0]!)
    // From a peer's address: a ping made, answered.
    const fromPeer = await exchange(asked, { localAddress: IPS[2]! })
    expect(fromPeer.status).toBe(200)
    expect(JSON.parse(fromPeer.body.toString())).toMatchObject({ peer: dashed(IPS[1]!), answered: true })
    // From anywhere else: refused, whatever it names.
    const fromStranger = await exchange(asked, { localAddress: "127.0.0.99" })
    expect(fromStranger.status).toBe(403)
    // About a pod DNS does not list: refused, even from a peer.
    const unknown = await exchange(`${target.url}/probe?peer=127-0-0-99`, { localAddress: IPS[2]! })
    expect(unknown.status).toBe(400)
    expect(await downCount(IPS[0]!)).toBe(before)
  })

  it(
    "drops a crashed pod on every survivor well before their next tick: the first to probe it tells the others",
    async () => {
      const crashed = IPS[2]!
      const survivors = IPS.filter((ip) => ip !== crashed)
      pods.get(crashed)!.process.child.kill("SIGKILL")
      listed = listed.filter((ip) => ip !== crashed)
      await waitUntil(
        "every survivor to drop the crashed pod",
        BOUND_MS,
        async () => (await Promise.all(survivors.map(peersOf))).every((body) => !body.peers.includes(dashed(crashed)))
      )
      // A survivor that saw it fail told the others (`left` hints about it), rather than each waiting to probe it.
      await waitUntil(
        "a survivor to log the hints it sent about the crashed pod",
        BOUND_MS,
        async () =>
          survivors.some((ip) =>
            logRecords(pods.get(ip)!.process.output()).some((record) =>
              record.message === "sent refresh hints: left" && record.annotations.about === dashed(crashed)
            )
          )
      )
    },
    2 * BOUND_MS
  )
})
