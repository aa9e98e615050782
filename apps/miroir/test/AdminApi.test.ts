/**
 * The admin listener in-process, over the test resolver: `POST /leave` reads and bounds its delay (a 400
 * names it), answers no sooner than the delay, makes a pod DNS has dropped resign its shards, and leaves a
 * pod DNS still lists as it was (`listed`, not spent: the next call leaves); with hints off it only
 * waits. The network-facing port serves no leave at all, whatever the method or the spelling of the
 * path, and the two listeners do not share routes. The pods' IPs are loopback addresses where nothing
 * listens: the peers' hints fail at once.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { freePort } from "@miroir/test-support/processes"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpServer } from "effect/http"
import * as AdminContract from "../src/AdminApi/Contract.js"
import * as App from "../src/App.js"
import * as Contract from "@miroir/pod-api"
import { podSettings } from "./support/settings.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
const IPS = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
const srv = (ips: ReadonlyArray<string>) =>
  ips.map((ip) => ({ name: `${PeerId.fromIp(ip)}.${DOMAIN}`, port: 7700, priority: 0, weight: 33 }))

/** Pod 127.0.3.1 of three listed pods, with hints `peerHints`; its HTTP API and its admin listener on 127.0.0.1. */
const pod = (peerHints: "on" | "off") =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
    yield* dns.setSrv(SRV_NAME, srv(IPS))
    const [metricsPort, adminPort] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    const settings = podSettings(IPS[0]!, metricsPort, 16, adminPort)
    const context = yield* Layer.build(App.layer(
      { ...settings, app: { ...settings.app, peerHints } },
      Layer.succeedContext(dnsContext)
    ))
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
    return {
      dns,
      url: `http://127.0.0.1:${address.port}`,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      discovery: Context.get(context, PeerDiscovery.PeerDiscovery)
    }
  })

const decodeLeave = Schema.decodeUnknownSync(AdminContract.LeaveAnswer, { onExcessProperty: "error" })
const decodeError = Schema.decodeUnknownSync(Contract.ErrorBody, { onExcessProperty: "error" })

/** A request; how long the answer took, its status, headers and body (JSON, or null when there is none). */
const request = (url: string, method = "POST") =>
  Effect.promise(async () => {
    const started = Date.now()
    const response = await fetch(url, { method })
    const text = await response.text()
    return {
      status: response.status,
      headers: response.headers,
      body: (text === "" ? null : JSON.parse(text)) as unknown,
      ms: Date.now() - started
    }
  })

const owned = (url: string) =>
  Effect.promise(async () =>
    ((await (await fetch(`${url}/ownership?shards=256`)).json()) as { owned: Array<number> }).owned
  )

describe("POST /leave on the admin listener", () => {
  it.live("refuses a bad delay with a 400 naming it", () =>
    Effect.gen(function*() {
      const { adminUrl, url } = yield* pod("on")
      for (const bad of ["soon", "5", "-1s", "1.5s", "5m", "3601s", "", "5 s"]) {
        const { body, status } = yield* request(`${adminUrl}/leave?delay=${encodeURIComponent(bad)}`)
        expect(status, bad).toBe(400)
        const error = decodeError(body)
        expect(error.parameter).toBe("delay")
        expect(error.value).toBe(bad)
        expect(error.error).toContain("delay must be a duration such as 5s or 500ms, from 0s to 3600s")
      }
      // Nothing was started: the pod still owns its share.
      expect((yield* owned(url)).length).toBeGreaterThan(0)
    }))

  it.live("once DNS has dropped the pod: answers after the delay, and the pod owns nothing", () =>
    Effect.gen(function*() {
      const { adminUrl, discovery, dns, url } = yield* pod("on")
      expect((yield* owned(url)).length).toBeGreaterThan(0)
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      const first = yield* request(`${adminUrl}/leave?delay=400ms`)
      expect(first.status).toBe(200)
      expect(first.ms).toBeGreaterThanOrEqual(400)
      const answer = decodeLeave(first.body)
      expect(answer).toMatchObject({ result: "left", selfInDns: false })
      expect(answer.tookMs).toBeGreaterThanOrEqual(400)
      expect((yield* discovery.current).leaving).toBe(true)
      expect(yield* owned(url)).toEqual([])
      // A second call answers the leave that completed: only its own delay.
      const again = yield* request(`${adminUrl}/leave?delay=0s`)
      expect(again.status).toBe(200)
      expect(decodeLeave(again.body).result).toBe("left")
      expect(again.ms).toBeLessThan(1_000)
    }))

  it.live("while DNS still lists the pod: `listed`, shards kept, and the next call, once DNS dropped it, leaves", () =>
    Effect.gen(function*() {
      const { adminUrl, discovery, dns, url } = yield* pod("on")
      const before = yield* owned(url)
      expect(before.length).toBeGreaterThan(0)
      const listed = yield* request(`${adminUrl}/leave?delay=100ms`)
      expect(listed.status).toBe(200)
      expect(decodeLeave(listed.body)).toMatchObject({ result: "listed", selfInDns: true })
      // Its bounded wait for DNS (2 s) ran out; it neither resigned nor marked itself leaving.
      expect(listed.ms).toBeGreaterThanOrEqual(2_000)
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(url)).toEqual(before)
      // Not spent: the real termination (DNS drops the pod, the hook runs) still leaves.
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      const left = yield* request(`${adminUrl}/leave?delay=0s`)
      expect(decodeLeave(left.body)).toMatchObject({ result: "left", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(true)
      expect(yield* owned(url)).toEqual([])
    }))

  it.live("with hints off, only waits the delay and keeps its shards", () =>
    Effect.gen(function*() {
      const { adminUrl, discovery, dns, url } = yield* pod("off")
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      yield* discovery.refresh
      const before = yield* owned(url)
      expect(before.length).toBeGreaterThan(0)
      const { body, ms, status } = yield* request(`${adminUrl}/leave?delay=300ms`)
      expect(status).toBe(200)
      expect(ms).toBeGreaterThanOrEqual(300)
      expect(decodeLeave(body)).toMatchObject({ result: "off", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(url)).toEqual(before)
    }))

  it.live("answers another method with 405 (Allow: POST) and another path with 404, the pod API's included", () =>
    Effect.gen(function*() {
      const { adminUrl } = yield* pod("on")
      for (const method of ["GET", "PUT", "DELETE"]) {
        const response = yield* request(`${adminUrl}/leave`, method)
        expect(response.status, method).toBe(405)
        expect(response.headers.get("allow")).toBe("POST")
      }
      // The two APIs do not share a router: the admin listener serves none of the pod API's paths.
      for (const path of ["/peers", "/ownership", "/hints"]) {
        const response = yield* request(`${adminUrl}${path}`, "GET")
        expect(response.status, path).toBe(404)
        expect(decodeError(response.body).paths).toEqual(["/leave"])
      }
    }))
})

describe("the network-facing port", () => {
  it.live("serves no leave: GET, HEAD and POST on /leave and its variants get 404 or 405 and change nothing", () =>
    Effect.gen(function*() {
      const { discovery, dns, url } = yield* pod("on")
      // DNS has dropped the pod, so that a leave, were one started, would resign its shards at once.
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(1)))
      yield* discovery.refresh
      const before = yield* owned(url)
      expect(before.length).toBeGreaterThan(0)
      for (const path of ["/leave", "/leave?delay=0s", "/LEAVE", "/leave/", "//leave", "/Leave?delay=1s"]) {
        for (const method of ["GET", "HEAD", "POST"]) {
          const { body, status } = yield* request(`${url}${path}`, method)
          expect([404, 405], `${method} ${path}`).toContain(status)
          if (method !== "HEAD") expect(decodeError(body).error, `${method} ${path}`).toMatch(/^(no such path|method)/)
        }
      }
      expect((yield* discovery.current).leaving).toBe(false)
      expect(yield* owned(url)).toEqual(before)
      expect(Contract.paths).not.toContain("/leave")
    }))
})
