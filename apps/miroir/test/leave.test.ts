/**
 * `GET /leave` in-process, over the test resolver: the delay is read and bounded (a 400 names it), the
 * answer comes no sooner than the delay, a pod DNS has dropped resigns its shards, and with hints off it
 * only waits. Peers are reached at a loopback twin where nothing listens: their hints fail at once.
 */
import { HttpServer } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { freePort } from "@miroir/test-support/processes"
import { Context, Duration, Effect, Either, Layer, Option, Schema } from "effect"
import * as App from "../src/App.js"
import * as Contract from "../src/HttpApi/Contract.js"
import { parseAddressTwin } from "../src/internal/addressTwin.js"
import { podSettings } from "./support/settings.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
const IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
const srv = (ips: ReadonlyArray<string>) =>
  ips.map((ip) => ({ name: `${PeerId.fromIp(ip)}.${DOMAIN}`, port: 7700, priority: 0, weight: 33 }))
const TWIN = Either.getOrThrow(parseAddressTwin("10.0.0.0/24=127.0.3.0/24"))

/** Pod 10.0.0.1 of three listed pods, with hints `peerHints`. */
const pod = (peerHints: "on" | "off") =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
    yield* dns.setSrv(SRV_NAME, srv(IPS))
    const metricsPort = yield* Effect.promise(() => freePort())
    const settings = podSettings(IPS[0]!, metricsPort)
    const context = yield* Layer.build(App.layer(
      { ...settings, app: { ...settings.app, peerHints, peerAddressTwin: Option.some(TWIN) } },
      Layer.succeedContext(dnsContext)
    ))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return {
      dns,
      url: `http://127.0.0.1:${address.port}`,
      discovery: Context.get(context, PeerDiscovery.PeerDiscovery)
    }
  })

const decodeLeave = Schema.decodeUnknownSync(Contract.LeaveAnswer, { onExcessProperty: "error" })
const decodeError = Schema.decodeUnknownSync(Contract.ErrorBody, { onExcessProperty: "error" })

/** GETs `/leave` with `query`; how long the answer took, its status and body. */
const leave = (url: string, query: string) =>
  Effect.promise(async () => {
    const started = Date.now()
    const response = await fetch(`${url}/leave${query}`)
    const body: unknown = await response.json()
    return { status: response.status, body, ms: Date.now() - started }
  })

const owned = (url: string) =>
  Effect.promise(async () =>
    ((await (await fetch(`${url}/ownership?shards=256`)).json()) as { owned: Array<number> }).owned
  )

describe("GET /leave", () => {
  it.scopedLive("refuses a bad delay with a 400 naming it", () =>
    Effect.gen(function*() {
      const { url } = yield* pod("on")
      for (const bad of ["soon", "5", "-1s", "1.5s", "5m", "3601s", "", "5 s"]) {
        const { body, status } = yield* leave(url, `?delay=${encodeURIComponent(bad)}`)
        expect(status, bad).toBe(400)
        const error = decodeError(body)
        expect(error.parameter).toBe("delay")
        expect(error.value).toBe(bad)
        expect(error.error).toContain("delay must be a duration such as 5s or 500ms, from 0s to 3600s")
      }
      // Nothing was started: the pod still owns its share.
      expect((yield* owned(url)).length).toBeGreaterThan(0)
    }))

  it.scopedLive("once DNS has dropped the pod: answers after the delay, and the pod owns nothing", () =>
    Effect.gen(function*() {
      const { discovery, dns, url } = yield* pod("on")
      expect((yield* owned(url)).length).toBeGreaterThan(0)
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      const first = yield* leave(url, "?delay=400ms")
      expect(first.status).toBe(200)
      expect(first.ms).toBeGreaterThanOrEqual(400)
      const answer = decodeLeave(first.body)
      expect(answer).toMatchObject({ result: "left", selfInDns: false })
      expect(answer.tookMs).toBeGreaterThanOrEqual(400)
      expect((yield* discovery.current).leaving).toBe(true)
      expect(yield* owned(url)).toEqual([])
      // A second call joins the leave that is over: only its own delay.
      const again = yield* leave(url, "?delay=0s")
      expect(again.status).toBe(200)
      expect(decodeLeave(again.body).result).toBe("left")
      expect(again.ms).toBeLessThan(1_000)
    }))

  it.scopedLive("while DNS still lists the pod, it keeps its shards (its wait for DNS is bounded)", () =>
    Effect.gen(function*() {
      const { url } = yield* pod("on")
      const before = yield* owned(url)
      const { body, ms, status } = yield* leave(url, "?delay=100ms")
      expect(status).toBe(200)
      expect(decodeLeave(body)).toMatchObject({ result: "left", selfInDns: true })
      // The wait for DNS (2 s) and the hints (1 s) bound the answer.
      expect(ms).toBeLessThan(Duration.toMillis(Duration.seconds(3)) + 1_000)
      expect(yield* owned(url)).toEqual(before)
    }))

  it.scopedLive("with hints off, only waits the delay and keeps its shards", () =>
    Effect.gen(function*() {
      const { discovery, dns, url } = yield* pod("off")
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      yield* discovery.refresh
      const before = yield* owned(url)
      expect(before.length).toBeGreaterThan(0)
      const { body, ms, status } = yield* leave(url, "?delay=300ms")
      expect(status).toBe(200)
      expect(ms).toBeGreaterThanOrEqual(300)
      expect(decodeLeave(body)).toMatchObject({ result: "off", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(url)).toEqual(before)
    }))
})
