/**
 * The admin listener in-process, over the test resolver, both APIs served in memory (no socket: the
 * routes, decoding and encoding are the real ones, support/inMemoryServer.ts): `POST /leave` reads and bounds its delay (a 400
 * names it), answers no sooner than the delay, makes a pod DNS has dropped resign its shards, and leaves a
 * pod DNS still lists as it was (`listed`, not spent: the next call leaves); with hints off it only
 * waits. Durations are asserted only from below (an answer no sooner than its delay), which load cannot
 * break. The network-facing port serves no leave at all, whatever the method or the spelling of the
 * path, and the two listeners do not share routes. The pods' IPs are loopback addresses where nothing
 * listens: the peers' hints fail at once.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { freePort } from "@miroir/process-kit/freePort"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { type HttpClient, HttpClientRequest } from "effect/http"
import * as AdminContract from "../src/AdminApi/Contract.js"
import * as App from "../src/App.js"
import * as Contract from "@miroir/pod-api"
import * as InMemory from "./support/inMemoryServer.js"
import { podSettings } from "./support/settings.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
const IPS = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
const srv = (ips: ReadonlyArray<string>) =>
  ips.map((ip) => ({ name: `${PeerId.fromIp(ip)}.${DOMAIN}`, port: 7700, priority: 0, weight: 33 }))

/**
 * Pod 127.0.3.1 of three listed pods, with hints `peerHints`; its HTTP API and its admin API each served
 * in memory, on servers of their own, as the pod serves them on two listeners. Its refresh interval is
 * long: every lookup is one the test or the leave makes, and can be counted.
 */
const pod = (peerHints: "on" | "off") =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
    yield* dns.setSrv(SRV_NAME, srv(IPS))
    const metricsPort = yield* Effect.promise(() => freePort())
    const settings = podSettings(IPS[0]!, metricsPort)
    const [api, admin] = [yield* Layer.build(InMemory.layerAtFreePort(IPS[0]!)), yield* Layer.build(InMemory.layer())]
    const context = yield* Layer.build(App.layer(
      {
        ...settings,
        discovery: { ...settings.discovery, refreshInterval: Duration.minutes(10) },
        app: { ...settings.app, peerHints }
      },
      Layer.succeedContext(dnsContext),
      { api: Layer.succeedContext(api), admin: Layer.succeedContext(admin) }
    ))
    // Both from the pod's own loopback, as the preStop exec and a prober in the pod would ask.
    return {
      dns,
      api: Context.get(api, InMemory.InMemoryServer).clientFrom("127.0.0.1"),
      admin: Context.get(admin, InMemory.InMemoryServer).clientFrom("127.0.0.1"),
      discovery: Context.get(context, PeerDiscovery.PeerDiscovery)
    }
  })

const decodeLeave = Schema.decodeUnknownSync(AdminContract.LeaveAnswer, { onExcessProperty: "error" })
const decodeError = Schema.decodeUnknownSync(Contract.ErrorBody, { onExcessProperty: "error" })

/** A request; how long the answer took, its status, headers and body (JSON, or null when there is none). */
const request = (
  client: HttpClient.HttpClient,
  pathAndQuery: string,
  method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD" = "POST"
) =>
  Effect.gen(function*() {
    const started = Date.now()
    const response = yield* client.execute(HttpClientRequest.make(method)(`http://pod${pathAndQuery}`))
    const text = yield* response.text
    return {
      status: response.status,
      headers: response.headers,
      body: (text === "" ? null : JSON.parse(text)) as unknown,
      ms: Date.now() - started
    }
  }).pipe(Effect.orDie)

const owned = (api: HttpClient.HttpClient) =>
  Effect.map(request(api, "/ownership?shards=256", "GET"), ({ body }) => (body as { owned: Array<number> }).owned)

describe("POST /leave on the admin listener", () => {
  it.live("refuses a bad delay with a 400 naming it", () =>
    Effect.gen(function*() {
      const { admin, api } = yield* pod("on")
      for (const bad of ["soon", "5", "-1s", "1.5s", "5m", "3601s", "", "5 s"]) {
        const { body, status } = yield* request(admin, `/leave?delay=${encodeURIComponent(bad)}`)
        expect(status, bad).toBe(400)
        const error = decodeError(body)
        expect(error.parameter).toBe("delay")
        expect(error.value).toBe(bad)
        expect(error.error).toContain("delay must be a duration such as 5s or 500ms, from 0s to 3600s")
      }
      // Nothing was started: the pod still owns its share.
      expect((yield* owned(api)).length).toBeGreaterThan(0)
    }))

  it.live("once DNS has dropped the pod: answers after the delay, and the pod owns nothing", () =>
    Effect.gen(function*() {
      const { admin, api, discovery, dns } = yield* pod("on")
      expect((yield* owned(api)).length).toBeGreaterThan(0)
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      const first = yield* request(admin, `/leave?delay=400ms`)
      expect(first.status).toBe(200)
      expect(first.ms).toBeGreaterThanOrEqual(400)
      const answer = decodeLeave(first.body)
      expect(answer).toMatchObject({ result: "left", selfInDns: false })
      expect(answer.tookMs).toBeGreaterThanOrEqual(400)
      expect((yield* discovery.current).leaving).toBe(true)
      expect(yield* owned(api)).toEqual([])
      // A second call answers the leave that completed, without running it again: not one lookup more
      // (a run looks the pod up; no tick comes, the interval is long).
      const lookups = yield* dns.lookups(SRV_NAME)
      const again = yield* request(admin, `/leave?delay=0s`)
      expect(again.status).toBe(200)
      expect(decodeLeave(again.body).result).toBe("left")
      expect(yield* dns.lookups(SRV_NAME)).toBe(lookups)
    }))

  it.live("while DNS still lists the pod: `listed`, shards kept, and the next call, once DNS dropped it, leaves", () =>
    Effect.gen(function*() {
      const { admin, api, discovery, dns } = yield* pod("on")
      const before = yield* owned(api)
      expect(before.length).toBeGreaterThan(0)
      const listed = yield* request(admin, `/leave?delay=100ms`)
      expect(listed.status).toBe(200)
      expect(decodeLeave(listed.body)).toMatchObject({ result: "listed", selfInDns: true })
      // Its bounded wait for DNS (2 s) ran out; it neither resigned nor marked itself leaving.
      expect(listed.ms).toBeGreaterThanOrEqual(2_000)
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(api)).toEqual(before)
      // Not spent: the real termination (DNS drops the pod, the hook runs) still leaves.
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      const left = yield* request(admin, `/leave?delay=0s`)
      expect(decodeLeave(left.body)).toMatchObject({ result: "left", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(true)
      expect(yield* owned(api)).toEqual([])
    }))

  it.live("with hints off, only waits the delay and keeps its shards", () =>
    Effect.gen(function*() {
      const { admin, api, discovery, dns } = yield* pod("off")
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      yield* discovery.refresh
      const before = yield* owned(api)
      expect(before.length).toBeGreaterThan(0)
      const { body, ms, status } = yield* request(admin, `/leave?delay=300ms`)
      expect(status).toBe(200)
      expect(ms).toBeGreaterThanOrEqual(300)
      expect(decodeLeave(body)).toMatchObject({ result: "off", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(api)).toEqual(before)
    }))

  it.live("answers another method with 405 (Allow: POST) and another path with 404, the pod API's included", () =>
    Effect.gen(function*() {
      const { admin } = yield* pod("on")
      for (const method of ["GET", "PUT", "DELETE"] as const) {
        const response = yield* request(admin, `/leave`, method)
        expect(response.status, method).toBe(405)
        expect(response.headers["allow"]).toBe("POST")
      }
      // The two APIs do not share a router: the admin listener serves none of the pod API's paths.
      for (const path of ["/peers", "/ownership", "/hints"]) {
        const response = yield* request(admin, `${path}`, "GET")
        expect(response.status, path).toBe(404)
        expect(decodeError(response.body).paths).toEqual(["/leave"])
      }
    }))
})

describe("the network-facing port", () => {
  it.live("serves no leave: GET, HEAD and POST on /leave and its variants get 404 or 405 and change nothing", () =>
    Effect.gen(function*() {
      const { api, discovery, dns } = yield* pod("on")
      // DNS has dropped the pod, so that a leave, were one started, would resign its shards at once.
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      yield* discovery.refresh
      const before = yield* owned(api)
      expect(before.length).toBeGreaterThan(0)
      for (const path of ["/leave", "/leave?delay=0s", "/LEAVE", "/leave/", "//leave", "/Leave?delay=1s"]) {
        for (const method of ["GET", "HEAD", "POST"] as const) {
          const { body, status } = yield* request(api, path, method)
          expect([404, 405], `${method} ${path}`).toContain(status)
          if (method !== "HEAD") expect(decodeError(body).error, `${method} ${path}`).toMatch(/^(no such path|method)/)
        }
      }
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(api)).toEqual(before)
      expect(Contract.paths).not.toContain("/leave")
    }))
})
