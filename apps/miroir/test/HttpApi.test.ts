/**
 * The HTTP contract of the pod service, in-process, over the test resolver: the whole pod (App.layer) with
 * its API served in memory (support/inMemoryServer.ts), so that every request goes through the real
 * routing, decoding and encoding without a socket, from a source address the test chooses. What sockets
 * add (the guarded server, its limits, the bounded body on a connection) is tested where they are the
 * point: guardedServer, connectionLimits, boundedBody and the `.process.` tests.
 */
import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import {
  DnsResolver,
  Metrics,
  PeerDiscovery,
  PeerDiscoveryConfig,
  PeerHealthConfig,
  PeerId
} from "@miroir/peer-discovery"
import { freePort } from "@miroir/process-kit/freePort"
import { Context, Effect, Layer, Metric, Schema } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import * as App from "../src/App.js"
import * as AppMetrics from "../src/AppMetrics.js"
import * as Limits from "../src/HttpApi/Limits.js"
import * as Client from "@miroir/pod-api/Client"
import * as Contract from "@miroir/pod-api"
import * as InMemory from "./support/inMemoryServer.js"
import { podSettings } from "./support/settings.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
/**
 * The pods' addresses: loopback ones of their own, so that what a pod sends its peers (the hints, with hints
 * on) can only reach this machine, where nothing listens on the port they are asked on ({@link cluster}).
 */
const IPS = ["127.0.3.1", "127.0.3.2", "127.0.3.3"]
/** An address that is neither a pod a hint may name nor a peer of any view here. */
const OUTSIDER = "192.0.2.7"
const srv = (ips: ReadonlyArray<string>) =>
  ips.map((ip) => ({
    name: `${PeerId.fromIp(ip)}.${DOMAIN}`,
    port: 7700,
    priority: 0,
    weight: Math.floor(100 / ips.length)
  }))

/**
 * Starts the test DNS with the three pods, and one pod service per IP sharing it, its API in memory (on a
 * port where nothing listens: what it sends its peers is refused at once), its hints `peerHints`, its
 * failure detector `health` (off by default).
 */
const cluster = (
  ips: ReadonlyArray<string>,
  peerHints: "on" | "off" = "on",
  health?: PeerHealthConfig.Settings
) =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
    yield* dns.setSrv(SRV_NAME, srv(IPS))
    const pods = yield* Effect.forEach(ips, (ip) =>
      Effect.gen(function*() {
        const metricsPort = yield* Effect.promise(() => freePort())
        const server = yield* Layer.build(InMemory.layerAtFreePort(ip))
        const settings = podSettings(ip, metricsPort)
        const context = yield* Layer.build(
          App.layer(
            { ...settings, app: { ...settings.app, peerHints }, health: health ?? settings.health },
            Layer.succeedContext(dnsContext),
            { api: Layer.succeedContext(server) }
          )
        )
        return {
          ip,
          /** Requests to this pod, from `source` (by default the test's loopback). */
          from: (source = "127.0.0.1") => Context.get(server, InMemory.InMemoryServer).clientFrom(source),
          discovery: Context.get(context, PeerDiscovery.PeerDiscovery)
        }
      }))
    return { dns, pods }
  })

type Pod = Effect.Success<ReturnType<typeof cluster>>["pods"][number]

/** What a request may carry besides its path. */
interface Init {
  readonly method?: "GET" | "POST" | "PUT" | "DELETE" | "PATCH"
  readonly body?: string
  readonly headers?: Record<string, string>
  /** The address the request comes from. */
  readonly source?: string
}

/** Sends a request to `pod` and checks the body against the API's schema for that answer. */
const get = (pod: Pod, pathAndQuery: string, init: Init = {}) =>
  Effect.gen(function*() {
    // The body carries no type of its own, and the headers are set after it: they are exactly those given.
    const request = HttpClientRequest.make(init.method ?? "GET")(`http://pod${pathAndQuery}`).pipe(
      (request) =>
        init.body === undefined
          ? request
          : HttpClientRequest.setBody(request, HttpBody.raw(new TextEncoder().encode(init.body))),
      HttpClientRequest.setHeaders(init.headers ?? {})
    )
    const response = yield* pod.from(init.source).execute(request)
    const body = yield* response.json
    const path = new URL(pathAndQuery, "http://pod").pathname
    const schema = response.status >= 400
      ? Contract.ErrorBody
      : path === "/peers"
      ? Contract.PeersBody
      : path === "/ownership"
      ? Contract.OwnershipBody
      : path === "/ownership/audit"
      ? Contract.AuditBody
      : path === "/hints"
      ? Contract.HintAnswer
      : path === "/probe"
      ? Contract.ProbeAnswer
      : Contract.StatusBody
    Schema.decodeUnknownSync(schema as Schema.Codec<unknown, unknown>, { onExcessProperty: "error" })(body)
    return { status: response.status, headers: response.headers, body: body as any }
  }).pipe(Effect.orDie)

describe("the HTTP API", () => {
  it.live("GET /peers gives self, the sorted peers, freshness and whether DNS lists this pod", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[1]!])
      const { status, body, headers } = yield* get(pod!, `/peers`)
      expect(status).toBe(200)
      expect(headers["content-type"]).toMatch(/application\/json/)
      expect(body).toEqual({
        self: "127-0-3-2",
        peers: ["127-0-3-1", "127-0-3-2", "127-0-3-3"],
        refreshedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        stale: false,
        selfInDns: true,
        // The first 8 hex characters of SHA-256 over the sorted ids joined by newlines, computed here on its own.
        digest: createHash("sha256").update("127-0-3-1\n127-0-3-2\n127-0-3-3").digest("hex").slice(0, 8),
        // The failure detector is off in these pods (test/support/settings.ts): nobody suspected.
        suspected: [],
        down: [],
        fenced: false
      })
    }))

  it.live("GET /ownership gives the owned shards, by default MIROIR_SHARDS of them", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      const byDefault = yield* get(pod!, `/ownership`)
      expect(byDefault.status).toBe(200)
      expect(byDefault.body.shards).toBe(16)
      expect(byDefault.body.self).toBe("127-0-3-1")
      expect(byDefault.body.peers).toEqual(["127-0-3-1", "127-0-3-2", "127-0-3-3"])
      const owned: Array<number> = byDefault.body.owned
      expect([...owned].sort((a, b) => a - b)).toEqual(owned)
      expect(owned.every((shard) => shard >= 0 && shard < 16)).toBe(true)
      const explicit = yield* get(pod!, `/ownership?shards=65536`)
      expect(explicit.status).toBe(200)
      expect(explicit.body.shards).toBe(65536)
      expect(explicit.body.owned.length).toBeGreaterThan(65536 / 3 * 0.9)
      expect(explicit.body.owned.length).toBeLessThan(65536 / 3 * 1.1)
    }))

  it.live("GET /ownership with a bad shard count answers 400 with a JSON error naming it", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      for (const bad of ["0", "65537", "abc", "-1", "1.5", "", "1e3"]) {
        const { status, body } = yield* get(pod!, `/ownership?shards=${encodeURIComponent(bad)}`)
        expect(status, bad).toBe(400)
        expect(body.parameter).toBe("shards")
        expect(body.value).toBe(bad)
        expect(body.error).toContain("shards must be an integer from 1 to 65536")
      }
    }))

  it.live("GET /probe takes the asker's silentForMs, and answers 400 naming it when it is not one", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!], "on", PeerHealthConfig.defaults)
      // Asked by a peer (127.0.3.2) about another (127.0.3.3), where nothing listens: a nack.
      const asked = yield* get(pod!, `/probe?peer=127-0-3-3&silentForMs=1500`, { source: IPS[1]! })
      expect(asked.status).toBe(200)
      expect(asked.body).toEqual({ self: "127-0-3-1", peer: "127-0-3-3", answered: false })
      for (const bad of ["-1", "1.5", "abc", "", "1e3", "3600001"]) {
        const { status, body } = yield* get(pod!, `/probe?peer=127-0-3-3&silentForMs=${encodeURIComponent(bad)}`, {
          source: IPS[1]!
        })
        expect(status, bad).toBe(400)
        expect(body).toEqual({
          error: `silentForMs must be an integer from 0 to 3600000, got "${bad}"`,
          parameter: "silentForMs",
          value: bad
        })
      }
    }))

  it.live("answers liveness and readiness, 404 for unknown paths and 405 for other methods", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      expect(yield* get(pod!, `/healthz`)).toMatchObject({ status: 200, body: { status: "ok" } })
      expect(yield* get(pod!, `/readyz`)).toMatchObject({ status: 200, body: { status: "ready" } })
      const missing = yield* get(pod!, `/metrics`)
      expect(missing.status).toBe(404)
      expect(missing.body.error).toBe("no such path: /metrics")
      for (const method of ["POST", "PUT", "DELETE", "PATCH"] as const) {
        const response = yield* get(pod!, `/peers`, { method })
        expect(response.status, method).toBe(405)
        expect(response.headers["allow"]).toBe("GET")
        expect(response.body.error).toBe(`method ${method} not allowed on /peers`)
      }
    }))

  it.live("stays ready through a DNS outage, and keeps the peers it knew", () =>
    Effect.gen(function*() {
      const { dns, pods: [pod] } = yield* cluster([IPS[0]!])
      yield* dns.fail(SRV_NAME, "servfail")
      const failure = yield* Effect.flip(pod!.discovery.refresh)
      expect(failure.outcome).toBe("servfail")
      expect(yield* get(pod!, `/readyz`)).toMatchObject({ status: 200 })
      const { body } = yield* get(pod!, `/peers`)
      expect(body.peers).toEqual(["127-0-3-1", "127-0-3-2", "127-0-3-3"])
      expect(body.stale).toBe(true)
    }))

  it.live("GET /ownership carries the view's digest and serves repeated requests from one computation", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      const peers = yield* get(pod!, `/peers`)
      // The shard worker's computation (MIROIR_SHARDS, 16) is done or served before the count starts: the
      // counter is the process's, and the API's answer comes before the worker's turn without a socket.
      yield* get(pod!, "/ownership")
      const before = yield* Metric.value(Metrics.ownershipComputations)
      const answers = yield* Effect.forEach(
        Array.from({ length: 20 }, () => "/ownership?shards=4096"),
        (path) => get(pod!, path),
        { concurrency: 20 }
      )
      const after = yield* Metric.value(Metrics.ownershipComputations)
      expect(after.count - before.count).toBe(1)
      for (const answer of answers) {
        expect(answer.status).toBe(200)
        expect(answer.body).toEqual(answers[0]!.body)
        expect(answer.body.digest).toBe(peers.body.digest)
      }
    }))

  it.live("GET /ownership/audit says when the audit is off; other methods get 405", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      const { status, body } = yield* get(pod!, `/ownership/audit`)
      expect(status).toBe(200)
      expect(body).toMatchObject({
        self: "127-0-3-1",
        status: "disabled",
        auditor: null,
        intervalSeconds: null,
        last: null
      })
      expect(body.message).toContain("MIROIR_OWNERSHIP_AUDIT_INTERVAL=off")
      const post = yield* get(pod!, `/ownership/audit`, { method: "POST" })
      expect(post.status).toBe(405)
    }))

  it.live("three pods sharing one DNS own a disjoint cover of the shards, and follow a change", () =>
    Effect.gen(function*() {
      const { dns, pods } = yield* cluster(IPS)
      const owned = yield* Effect.forEach(pods, (pod) => get(pod, "/ownership?shards=256"))
      const all = owned.flatMap(({ body }) => body.owned as Array<number>).sort((a, b) => a - b)
      expect(all).toEqual(Array.from({ length: 256 }, (_, i) => i))
      // One pod leaves DNS; after a refresh the other two cover everything between them.
      yield* dns.setSrv(SRV_NAME, srv(IPS.slice(0, 2)))
      yield* Effect.forEach(pods, (pod) => pod.discovery.refresh)
      const remaining = yield* Effect.forEach(pods.slice(0, 2), (pod) => get(pod, "/ownership?shards=256"))
      const covered = remaining.flatMap(({ body }) => body.owned as Array<number>).sort((a, b) => a - b)
      expect(covered).toEqual(Array.from({ length: 256 }, (_, i) => i))
      const gone = yield* get(pods[2]!, "/peers")
      expect(gone.body.selfInDns).toBe(false)
    }))

  it.live("the client derived from the contract reads every endpoint", () =>
    Effect.gen(function*() {
      const { pods: [pod] } = yield* cluster([IPS[0]!])
      /** The derived client, its requests coming from `source`. */
      const clientFrom = (source: string) =>
        Effect.provideService(Client.make, HttpClient.HttpClient, pod!.from(source))
      const api = yield* clientFrom(IPS[1]!)
      const ask = Client.at("http://pod")
      const peers = yield* ask(api.peers.peers())
      expect(peers.peers).toEqual(["127-0-3-1", "127-0-3-2", "127-0-3-3"])
      const owned = yield* ask(api.ownership.ownership({ query: { shards: 256 } }))
      expect(owned).toMatchObject({ self: "127-0-3-1", shards: 256, digest: peers.digest })
      expect((yield* ask(api.ownership.ownership({ query: {} }))).shards).toBe(16)
      expect((yield* ask(api.ownership.audit())).status).toBe("disabled")
      expect(yield* ask(api.probes.healthz())).toEqual({ status: "ok" })
      expect(yield* ask(api.probes.readyz())).toEqual({ status: "ready" })
      // A hint about a pod DNS has not listed yet, from that pod (127.0.3.9 is 127-0-3-9): taken, and followed.
      const joining = yield* clientFrom("127.0.3.9")
      const { result } = yield* ask(joining.hints.hint({ payload: { kind: "joined", peer: "127-0-3-9" } }))
      expect(result).toBe("following")
      // One from an outsider: refused, as the contract's Forbidden naming the source.
      const outsider = yield* clientFrom(OUTSIDER)
      const refused = yield* Effect.flip(ask(outsider.hints.hint({ payload: { kind: "joined", peer: "127-0-3-9" } })))
      expect(refused).toBeInstanceOf(Contract.Forbidden)
      expect(refused).toMatchObject({ source: OUTSIDER })
    }))

  it.live(
    "POST /hints is taken only as JSON from the pod it names or a peer: 415, 403, counted, and no lookup",
    () =>
      Effect.gen(function*() {
        const { dns, pods: [pod] } = yield* cluster([IPS[0]!])
        const refusedBy = (reason: AppMetrics.HintRefusal) =>
          Effect.map(Metric.value(AppMetrics.hintsRefusedWith(reason)), (state) => state.count)
        const before = { type: yield* refusedBy("content_type"), source: yield* refusedBy("source") }
        const lookups = yield* dns.lookups(SRV_NAME)
        const hint = JSON.stringify({ kind: "left", peer: "127-0-3-2" })
        // What a page in a browser may send to any site without asking it first: no JSON.
        for (
          const headers of [
            { "content-type": "text/plain" },
            { "content-type": "application/x-www-form-urlencoded" },
            { "content-type": "multipart/form-data; boundary=x" },
            {}
          ]
        ) {
          const { body, status } = yield* get(pod!, `/hints`, { method: "POST", body: hint, headers, source: OUTSIDER })
          expect(status, JSON.stringify(headers)).toBe(415)
          expect(body.accepted).toEqual(["application/json"])
          expect(body.error).toMatch(/^a hint is application\/json, got /)
        }
        // JSON, from an address that is neither 127.0.3.2 nor a peer of the view.
        const json = { "content-type": "application/json; charset=utf-8" }
        const forbidden = yield* get(pod!, `/hints`, { method: "POST", body: hint, headers: json, source: OUTSIDER })
        expect(forbidden.status).toBe(403)
        expect(forbidden.body).toEqual({
          error:
            `a hint about 127-0-3-2 is taken only from that pod or a peer of this pod's view, not from ${OUTSIDER}`,
          source: OUTSIDER
        })
        // A body past the most a hint may be, from a peer: 413 before it is read, also without a socket.
        const padded = JSON.stringify({ kind: "left", peer: "127-0-3-2", padding: "x".repeat(100_000) })
        const tooLarge = yield* get(pod!, `/hints`, { method: "POST", body: padded, headers: json, source: IPS[1]! })
        expect(tooLarge.status).toBe(413)
        expect(tooLarge.body.maxBytes).toBe(Limits.HINT_MAX_BYTES)
        expect(yield* refusedBy("content_type")).toBe(before.type + 4)
        expect(yield* refusedBy("source")).toBe(before.source + 1)
        // None of them reached discovery: not one lookup more.
        yield* Effect.sleep("200 millis")
        expect(yield* dns.lookups(SRV_NAME)).toBe(lookups)
      })
  )
  it.live("with hints off, POST /hints answers `off`, counted as such, and costs no lookup", () =>
    Effect.gen(function*() {
      const { dns, pods: [pod] } = yield* cluster([IPS[0]!], "off")
      const offCount = Effect.map(Metric.value(AppMetrics.hintsOffWith("joined")), (state) => state.count)
      const before = yield* offCount
      const lookups = yield* dns.lookups(SRV_NAME)
      const json = { "content-type": "application/json" }
      const hint = JSON.stringify({ kind: "joined", peer: "127-0-3-9" })
      const { body, status } = yield* get(pod!, "/hints", {
        method: "POST",
        body: hint,
        headers: json,
        source: "127.0.3.9"
      })
      expect(status).toBe(200)
      expect(body).toEqual({ result: "off" })
      expect(yield* offCount).toBe(before + 1)
      yield* Effect.sleep("200 millis")
      expect(yield* dns.lookups(SRV_NAME)).toBe(lookups)
    }))
})
