/**
 * The HTTP API of a pod: what operators and other pods read. Every endpoint only reads; none
 * changes state (`POST /hints` only makes discovery look up DNS sooner: see PeerHints.ts). Readiness never depends on discovery: if it did, a DNS outage would take every pod
 * out of the Service at once, and DNS would then list nobody.
 *
 * No request can stall the pod: `/ownership` answers from the OwnershipCache (one computation per view
 * and shard count, which gives the event loop a turn every few milliseconds), and passes a RequestGate
 * (a few at once, a bounded queue, then a 503 with `Retry-After`), so that `/healthz` keeps answering
 * and SIGTERM keeps working under a flood.
 */
import { HttpIncomingMessage, HttpMiddleware, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Metrics, PeerDiscovery, PeerId, PeerSet } from "@miroir/peer-discovery"
import { Duration, Effect, Layer, Metric, Option, Schema } from "effect"
import { AppConfig, MAX_SHARDS } from "./AppConfig.js"
import { PacedServer } from "./internal/pacedServer.js"
import * as OwnershipAudit from "./OwnershipAudit.js"
import { HintBody } from "./PeerHints.js"
import { OwnershipCache, ownedBy, type Owners } from "./OwnershipCache.js"
import { type Busy, RequestGate, RETRY_AFTER_SECONDS } from "./RequestGate.js"

/** The JSON body of `GET /peers`; the schema is the contract, shared with the tests. */
export const PeersBody = Schema.Struct({
  self: Schema.String,
  /** Sorted. */
  peers: Schema.Array(Schema.String),
  /** ISO-8601 time of the last DNS answer; null before the first. */
  refreshedAt: Schema.NullOr(Schema.String),
  stale: Schema.Boolean,
  selfInDns: Schema.Boolean,
  /** Digest of the view (PeerSet.digest): pods that agree on their peers show the same one. */
  digest: Schema.String
})

/** The JSON body of `GET /ownership`. */
export const OwnershipBody = Schema.Struct({
  self: Schema.String,
  peers: Schema.Array(Schema.String),
  /** Digest of the view the shards were computed over. */
  digest: Schema.String,
  shards: Schema.Int,
  /** Ascending. */
  owned: Schema.Array(Schema.Int)
})

/** The JSON body of `GET /ownership/audit`. */
export const AuditBody = Schema.Struct({
  self: Schema.String,
  /** See OwnershipAudit.AuditState. */
  status: Schema.Literal("disabled", "pending", "audited", "not-auditor"),
  /** The auditor in this pod's view (the owner of the audit key); null while disabled. */
  auditor: Schema.NullOr(Schema.String),
  /** Seconds between audits; null while disabled. */
  intervalSeconds: Schema.NullOr(Schema.Number),
  /** What the status means, in a sentence. */
  message: Schema.String,
  /** This pod's last audit; null if it has not audited. */
  last: Schema.NullOr(OwnershipAudit.Report)
})

/** The JSON answer to `POST /hints`: what became of the hint (`off` when `MIROIR_PEER_HINTS=off`). */
export const HintAnswer = Schema.Struct({
  result: Schema.Literal("following", "pending", "agreed", "full", "off")
})

/** The JSON body of `GET /healthz` and `GET /readyz`. */
export const StatusBody = Schema.Struct({ status: Schema.Literal("ok", "ready") })

/** The JSON body of every error answer (400, 404, 405, 503). */
export const ErrorBody = Schema.Struct({
  error: Schema.String,
  /** The query parameter at fault (400). */
  parameter: Schema.optional(Schema.String),
  /** Its value as received (400), null when absent. */
  value: Schema.optional(Schema.NullOr(Schema.String)),
  /** The methods allowed on the path (405). */
  allowed: Schema.optional(Schema.Array(Schema.String)),
  /** The paths served (404). */
  paths: Schema.optional(Schema.Array(Schema.String)),
  /** Seconds to wait before trying again (503), as the `Retry-After` header says. */
  retryAfterSeconds: Schema.optional(Schema.Int)
})

const respond = <A, I>(schema: Schema.Schema<A, I>, body: NoInfer<A>, status = 200, headers?: Record<string, string>) =>
  HttpServerResponse.schemaJson(schema)(body, { status, ...(headers === undefined ? {} : { headers }) }).pipe(Effect.orDie)

const peers = Effect.gen(function*() {
  const set = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)
  return yield* respond(PeersBody, {
    self: set.self,
    peers: set.peers,
    refreshedAt: Option.match(set.refreshedAt, { onNone: () => null, onSome: (at) => at.toISOString() }),
    stale: set.stale,
    selfInDns: set.selfInDns,
    digest: PeerSet.digest(set)
  })
})

const SHARDS_PATTERN = /^\d{1,6}$/

const ownership = Effect.gen(function*() {
  const { shards: defaultShards } = yield* AppConfig
  const query = yield* HttpServerRequest.ParsedSearchParams
  const requested = query["shards"]
  const text = Array.isArray(requested) ? requested.join(",") : requested
  const shards = text === undefined ? defaultShards : SHARDS_PATTERN.test(text) ? Number(text) : Number.NaN
  if (!(shards >= 1 && shards <= MAX_SHARDS)) {
    return yield* respond(ErrorBody, {
      error: `shards must be an integer from 1 to ${MAX_SHARDS}, got ${JSON.stringify(text)}`,
      parameter: "shards",
      value: text ?? null
    }, 400)
  }
  const gate = yield* RequestGate
  return yield* gate.run(Effect.gen(function*() {
    const set = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)
    const owners = yield* Effect.flatMap(OwnershipCache, (cache) => cache.owners(PeerSet.ownershipPeers(set), shards))
    return HttpServerResponse.text(ownershipJson(owners, set.self), { contentType: "application/json" })
  })).pipe(
    Effect.catchTag("Busy", (busy) =>
      Effect.succeed(HttpServerResponse.text(busyJson(busy), {
        status: 503,
        contentType: "application/json",
        headers: { "retry-after": String(RETRY_AFTER_SECONDS) }
      })))
  )
})

const busyBodies = new Map<string, string>()

/** The 503 body, encoded once per message: refusing must cost less than serving. */
const busyJson = (busy: Busy): string => {
  let json = busyBodies.get(busy.message)
  if (json === undefined) {
    json = JSON.stringify(Schema.encodeSync(ErrorBody)({ error: busy.message, retryAfterSeconds: RETRY_AFTER_SECONDS }))
    busyBodies.set(busy.message, json)
  }
  return json
}

const encodeOwnership = Schema.encodeSync(OwnershipBody)
const ownershipBodies = new WeakMap<Owners, Map<string, string>>()

/**
 * The JSON text of an `/ownership` answer, encoded once per (owners, self) and then reused: at one peer
 * and 65,536 shards it is 400 kB, which a flood must not re-encode for every request.
 */
const ownershipJson = (owners: Owners, self: string): string => {
  let bySelf = ownershipBodies.get(owners)
  if (bySelf === undefined) ownershipBodies.set(owners, bySelf = new Map())
  let json = bySelf.get(self)
  if (json === undefined) {
    json = JSON.stringify(encodeOwnership({
      self,
      peers: owners.peers,
      digest: PeerSet.digestOf(owners.peers),
      shards: owners.shards,
      owned: ownedBy(owners, self)
    }))
    bySelf.set(self, json)
  }
  return json
}

const auditMessage = (state: OwnershipAudit.AuditState, self: string): string => {
  const auditor = Option.getOrElse(state.auditor, () => "unknown")
  switch (state.status) {
    case "disabled":
      return "the ownership audit is off on this pod (MIROIR_OWNERSHIP_AUDIT_INTERVAL=off)"
    case "pending":
      return `${self} is the auditor; no audit has finished yet`
    case "audited":
      return `${self} is the auditor; last is its latest audit`
    case "not-auditor":
      return `${auditor} is the auditor in this pod's view: ask it`
  }
}

const audit = Effect.gen(function*() {
  const state = yield* Effect.flatMap(OwnershipAudit.OwnershipAudit, (service) => service.state)
  const set = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)
  return yield* respond(AuditBody, {
    self: set.self,
    status: state.status,
    auditor: Option.getOrNull(state.auditor),
    intervalSeconds: Option.match(state.interval, { onNone: () => null, onSome: (d) => Duration.toMillis(d) / 1000 }),
    message: auditMessage(state, set.self),
    last: Option.getOrNull(state.last)
  })
})

/** The largest `POST /hints` body read. */
export const HINT_MAX_BYTES = 1024

/**
 * `POST /hints`: a peer's refresh hint ({@link HintBody}), handed to discovery, which may only look up
 * sooner because of it. A body that is not a hint gets a 400.
 */
const hints = Effect.gen(function*() {
  const { peerHints } = yield* AppConfig
  // A hint is about 60 bytes: a bigger body is refused before it is read whole.
  const decoded = yield* Effect.either(HttpServerRequest.schemaBodyJson(HintBody).pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(HINT_MAX_BYTES))
  ))
  if (decoded._tag === "Left") {
    return yield* respond(ErrorBody, { error: 'a hint is {"kind": "joined" | "left", "peer": "<id>"}' }, 400)
  }
  const { kind, peer } = decoded.right
  if (peerHints === "off") {
    yield* Metric.increment(Metrics.hintsWith(kind, "off"))
    return yield* respond(HintAnswer, { result: "off" })
  }
  const result = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (d) => d.hint({ kind, peer: PeerId.PeerId(peer) }))
  return yield* respond(HintAnswer, { result })
})

/** The paths served, each answering GET only but `/hints` (POST only). */
export const paths = ["/peers", "/ownership", "/ownership/audit", "/healthz", "/readyz", "/hints"] as const

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/peers", peers),
  HttpRouter.get("/ownership", ownership),
  HttpRouter.get("/ownership/audit", audit),
  HttpRouter.get("/healthz", respond(StatusBody, { status: "ok" })),
  HttpRouter.get("/readyz", respond(StatusBody, { status: "ready" })),
  HttpRouter.post("/hints", hints)
)

/** The application: the routes, 405 for another method on a known path, 404 elsewhere, all JSON. */
export const app = router.pipe(
  Effect.catchTag("RouteNotFound", () =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = new URL(request.url, "http://localhost").pathname
      const allowed = path === "/hints" ? "POST" : "GET"
      return yield* (paths as ReadonlyArray<string>).includes(path)
        ? respond(ErrorBody, { error: `method ${request.method} not allowed on ${path}`, allowed: [allowed] }, 405, { allow: allowed })
        : respond(ErrorBody, { error: `no such path: ${path}`, paths }, 404)
    }))
)

/** Requests handed to the routes per turn of the event loop (see internal/pacedServer.ts). */
export const REQUESTS_PER_TURN = 16

/** Requests waiting for the routes beyond which a new one gets a 503 at once. */
export const MAX_PENDING_REQUESTS = 1024

/**
 * The HTTP server on `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT`, listening, without routes yet ({@link serve} adds
 * them): a layer of its own so that what the routes need can know the port first. It answers
 * `GET /healthz` and `GET /readyz` itself, at once, and hands the other requests to the routes
 * {@link REQUESTS_PER_TURN} per turn of the event loop, so that no burst of requests can hold a probe
 * (internal/pacedServer.ts says why). At shutdown open connections are dropped, so that an idle keep-alive
 * connection (a prober's, a scraper's) cannot hold the process for seconds.
 */
export const serverLayer = (settings: Pick<AppConfig["Type"], "httpHost" | "httpPort">) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const status = Schema.encodeSync(StatusBody)
    const server = new PacedServer({
      constant: { "/healthz": JSON.stringify(status({ status: "ok" })), "/readyz": JSON.stringify(status({ status: "ready" })) },
      perTurn: REQUESTS_PER_TURN,
      maxPending: MAX_PENDING_REQUESTS,
      busyBody: JSON.stringify(Schema.encodeSync(ErrorBody)({
        error: `busy: ${MAX_PENDING_REQUESTS} requests waiting; retry after ${RETRY_AFTER_SECONDS} s`,
        retryAfterSeconds: RETRY_AFTER_SECONDS
      })),
      retryAfterSeconds: RETRY_AFTER_SECONDS
    })
    // Runs before the platform's own release, which then finds the server closed.
    const closeAtShutdown = Layer.scopedDiscard(Effect.addFinalizer(() =>
      Effect.sync(() => {
        server.close()
        server.closeAllConnections()
      })
    ))
    return closeAtShutdown.pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: settings.httpPort, host: settings.httpHost }))
    )
  }))

/** Serves {@link app} on the HttpServer in context; requests are not traced (probes would flood the traces). */
export const serve = HttpServer.serve(app).pipe(HttpMiddleware.withTracerDisabledWhen(() => true))

/** {@link serve} on its own {@link serverLayer}. */
export const layer = (settings: Pick<AppConfig["Type"], "httpHost" | "httpPort">) =>
  serve.pipe(Layer.provideMerge(serverLayer(settings)))
