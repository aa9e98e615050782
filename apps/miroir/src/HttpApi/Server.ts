/**
 * The pod's HTTP API served from its declaration (Contract.ts) by HttpApiBuilder. Readiness never depends
 * on discovery: if it did, a DNS outage would take every pod out of the Service at once, and DNS would
 * then list nobody.
 *
 * No request can stall the pod: `/ownership` answers from the OwnershipCache (one computation per view
 * and shard count, which gives the event loop a turn every few milliseconds) with its JSON text encoded
 * once, and passes a RequestGate (a few at once, a bounded queue, then a 503 with `Retry-After`); the
 * server itself (internal/pacedServer.ts) answers the probes at once and paces the rest, so that
 * `/healthz` keeps answering and SIGTERM keeps working under a flood. Nothing here starts the pod's leave:
 * only the admin listener on its loopback does (AdminApi/Server.ts).
 */
import {
  HttpApiBuilder,
  HttpApiError,
  type HttpApp,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Metrics, PeerDiscovery, PeerId, PeerSet } from "@miroir/peer-discovery"
import { Cause, Duration, Effect, Layer, Metric, Option, Schema } from "effect"
import { AppConfig } from "../AppConfig.js"
import * as AppMetrics from "../AppMetrics.js"
import { PacedServer } from "../internal/pacedServer.js"
import * as OwnershipAudit from "../OwnershipAudit.js"
import { PeerAddresses } from "../PeerAddresses.js"
import { OwnershipCache, ownedBy, type Owners } from "../OwnershipCache.js"
import { type Busy as GateBusy, RequestGate, RETRY_AFTER_SECONDS } from "../RequestGate.js"
import {
  type AuditBody,
  BadRequest,
  Busy,
  Forbidden,
  HintBody,
  MethodNotAllowed,
  methods,
  NotFound,
  OwnershipBody,
  paths,
  PodApi,
  StatusBody,
  UnsupportedMediaType
} from "./Contract.js"

const currentSet = Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)

const peersGroup = HttpApiBuilder.group(
  PodApi,
  "peers",
  (handlers) =>
    handlers.handle("peers", () =>
      Effect.map(currentSet, (set) => ({
        self: set.self,
        peers: set.peers,
        refreshedAt: Option.match(set.refreshedAt, { onNone: () => null, onSome: (at) => at.toISOString() }),
        stale: set.stale,
        selfInDns: set.selfInDns,
        digest: PeerSet.digest(set)
      })))
)

const encodeBusy = Schema.encodeSync(Busy)
const busyBodies = new Map<string, string>()

/** The 503 body, encoded once per message: refusing must cost less than serving. */
const busyJson = (message: string): string => {
  let json = busyBodies.get(message)
  if (json === undefined) {
    json = JSON.stringify(encodeBusy(new Busy({ error: message, retryAfterSeconds: RETRY_AFTER_SECONDS })))
    busyBodies.set(message, json)
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

const ownershipGroup = HttpApiBuilder.group(PodApi, "ownership", (handlers) =>
  handlers
    // The answer is the cached JSON text (see ownershipJson), and a refusal carries `Retry-After`: both
    // are responses built here rather than values the builder would encode.
    .handle("ownership", ({ urlParams }) =>
      Effect.gen(function*() {
        const shards = urlParams.shards ?? (yield* AppConfig).shards
        const gate = yield* RequestGate
        return yield* gate.run(Effect.gen(function*() {
          const set = yield* currentSet
          const owners = yield* Effect.flatMap(OwnershipCache, (cache) =>
            cache.owners(PeerSet.ownershipPeers(set), shards))
          return HttpServerResponse.text(ownershipJson(owners, set.self), { contentType: "application/json" })
        })).pipe(
          Effect.catchTag("Busy", (busy: GateBusy) =>
            Effect.succeed(HttpServerResponse.text(busyJson(busy.message), {
              status: 503,
              contentType: "application/json",
              headers: { "retry-after": String(RETRY_AFTER_SECONDS) }
            })))
        )
      }))
    .handle("audit", () =>
      Effect.gen(function*() {
        const state = yield* Effect.flatMap(OwnershipAudit.OwnershipAudit, (service) =>
          service.state)
        const set = yield* currentSet
        return {
          self: set.self,
          status: state.status,
          auditor: Option.getOrNull(state.auditor),
          intervalSeconds: Option.match(state.interval, {
            onNone: () => null,
            onSome: (d) => Duration.toMillis(d) / 1000
          }),
          message: auditMessage(state, set.self),
          last: Option.getOrNull(state.last)
        } satisfies typeof AuditBody.Type
      })))

const probesGroup = HttpApiBuilder.group(PodApi, "probes", (handlers) =>
  handlers
    .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
    .handle("readyz", () => Effect.succeed({ status: "ready" as const })))

/** The largest `POST /hints` body read. */
export const HINT_MAX_BYTES = 1024

/** The one content type a hint comes in (parameters such as `charset` aside). */
const HINT_CONTENT_TYPE = "application/json"

/**
 * `POST /hints`: a peer's refresh hint, handed to discovery, which may only look up sooner because of it.
 * Raw: the body is read here, within {@link HINT_MAX_BYTES} (a hint is about 60 bytes: a bigger body is
 * refused before it is read whole). Checked in order, each refusal counted by reason and costing no
 * lookup and no hint slot: the content type (415 unless `application/json`: a browser page can send a
 * form or `text/plain` to any site, not JSON), the body (400 unless a hint), and the sender (403 unless
 * the connection comes from the address of the pod the hint names or of a peer of this pod's view).
 */
const hintsGroup = HttpApiBuilder.group(
  PodApi,
  "hints",
  (handlers) =>
    handlers.handleRaw("hint", ({ request }) =>
      Effect.gen(function*() {
        const { peerHints } = yield* AppConfig
        const contentType = request.headers["content-type"] ?? ""
        if (contentType.split(";", 1)[0]!.trim().toLowerCase() !== HINT_CONTENT_TYPE) {
          yield* Metric.increment(AppMetrics.hintsRefusedWith("content_type"))
          return yield* refusal(
            UnsupportedMediaType,
            415,
            new UnsupportedMediaType({
              error: `a hint is ${HINT_CONTENT_TYPE}, got ${
                contentType === "" ? "no content type" : JSON.stringify(quoted(contentType))
              }`,
              accepted: [HINT_CONTENT_TYPE]
            })
          )
        }
        const { kind, peer } = yield* HttpIncomingMessage.schemaBodyJson(HintBody)(request).pipe(
          HttpIncomingMessage.withMaxBodySize(Option.some(HINT_MAX_BYTES)),
          Effect.tapError(() => Metric.increment(AppMetrics.hintsRefusedWith("malformed"))),
          Effect.mapError(() =>
            new BadRequest({ error: "a hint is {\"kind\": \"joined\" | \"left\", \"peer\": \"<id>\"}" })
          )
        )
        const source = Option.getOrElse(request.remoteAddress, () => "")
        const sender = yield* Effect.flatMap(PeerAddresses, (addresses) =>
          addresses.senderOf(PeerId.PeerId(peer), source))
        if (sender === "unknown") {
          yield* Metric.increment(AppMetrics.hintsRefusedWith("source"))
          return yield* refusal(
            Forbidden,
            403,
            new Forbidden({
              error: `a hint about ${quoted(peer)} is taken only from that pod or a peer of this pod's view, not from ${
                source === "" ? "an unknown address" : source
              }`,
              source
            })
          )
        }
        if (peerHints === "off") {
          yield* Metric.increment(Metrics.hintsWith(kind, "off"))
          return { result: "off" as const }
        }
        const result = yield* Effect.flatMap(
          PeerDiscovery.PeerDiscovery,
          (d) =>
            d.hint({ kind, peer: PeerId.PeerId(peer) })
        )
        return { result }
      }))
)

/**
 * An error answer built here, with its status: the builder would encode an error with the first of the
 * API's error schemas that accepts it structurally, and BadRequest (`error` only) accepts any of them.
 */
const refusal = <A, I>(schema: Schema.Schema<A, I>, status: number, error: A) =>
  HttpServerResponse.schemaJson(schema)(error, { status }).pipe(Effect.orDie)

/** Characters of a value quoted in an error: a long value must not make a long answer. */
const QUOTED_CHARS = 64

/** `value`, or its first {@link QUOTED_CHARS} characters and how long it was. */
const quoted = (value: string): string =>
  value.length <= QUOTED_CHARS ? value : `${value.slice(0, QUOTED_CHARS)}… (${value.length} characters)`

/** The value of query parameter `name` as received (repeated: joined by commas); none when absent. */
const queryValue = (request: HttpServerRequest.HttpServerRequest, name: string): string | null => {
  const values = new URL(request.url, "http://localhost").searchParams.getAll(name)
  return values.length === 0 ? null : values.join(",")
}

/**
 * What the declaration says of requests no endpoint takes: a parameter that does not decode is a
 * {@link BadRequest} naming it and its value (instead of the platform's HttpApiDecodeError); an unknown
 * path a {@link NotFound} listing the paths; another method on a known path a {@link MethodNotAllowed}
 * with the `Allow` header. `methods` and `paths` are the API's (Contract.ts's; the admin API has its own).
 */
export const refuse = (methods: ReadonlyMap<string, string>, paths: ReadonlyArray<string>) => (app: HttpApp.Default) =>
  Effect.catchAllCause(app, (cause): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    BadRequest | NotFound,
    HttpServerRequest.HttpServerRequest
  > => {
    const failure = Cause.failureOption(cause as Cause.Cause<unknown>)
    if (Option.isNone(failure)) return Effect.failCause(cause)
    const error = failure.value
    if (error instanceof HttpApiError.HttpApiDecodeError) {
      return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const issue = error.issues[0]
        const parameter = issue?.path[0]
        if (issue === undefined || typeof parameter !== "string") {
          return Effect.fail(new BadRequest({ error: error.message }))
        }
        const value = queryValue(request, parameter)
        return Effect.fail(
          new BadRequest({ error: `${parameter} ${issue.message}, got ${JSON.stringify(value)}`, parameter, value })
        )
      })
    }
    if (error instanceof HttpServerError.RouteNotFound) {
      const request = error.request
      const path = new URL(request.url, "http://localhost").pathname
      const allowed = methods.get(path)
      if (allowed === undefined) return Effect.fail(new NotFound({ error: `no such path: ${path}`, paths }))
      return HttpServerResponse.schemaJson(MethodNotAllowed)(
        new MethodNotAllowed({ error: `method ${request.method} not allowed on ${path}`, allowed: [allowed] }),
        { status: 405, headers: { allow: allowed } }
      ).pipe(Effect.orDie)
    }
    return Effect.failCause(cause)
  })

const refusals = HttpApiBuilder.middleware(PodApi, refuse(methods, paths))

/** The API's handlers, over what they read: discovery, configuration, the cache, the gate and the audit. */
export const apiLayer = HttpApiBuilder.api(PodApi).pipe(
  Layer.provide([peersGroup, ownershipGroup, probesGroup, hintsGroup])
)

/** Requests handed to the routes per turn of the event loop (see internal/pacedServer.ts). */
export const REQUESTS_PER_TURN = 16

/** Requests waiting for the routes beyond which a new one gets a 503 at once. */
export const MAX_PENDING_REQUESTS = 1024

/**
 * The HTTP server on `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT`, listening, without routes yet ({@link serve} adds
 * them): a layer of its own so that what the routes need can know the port first. It answers
 * `GET /healthz` and `GET /readyz` itself, at once, and hands the other requests {@link REQUESTS_PER_TURN} per turn of the event loop, so that no burst of requests can hold a probe
 * (internal/pacedServer.ts says why). At shutdown open connections are dropped, so that an idle keep-alive
 * connection (a prober's, a scraper's) cannot hold the process for seconds.
 */
export const serverLayer = (settings: Pick<AppConfig["Type"], "httpHost" | "httpPort">) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const status = Schema.encodeSync(StatusBody)
    const server = new PacedServer({
      constant: {
        "/healthz": JSON.stringify(status({ status: "ok" })),
        "/readyz": JSON.stringify(status({ status: "ready" }))
      },
      perTurn: REQUESTS_PER_TURN,
      maxPending: MAX_PENDING_REQUESTS,
      busyBody: busyJson(`busy: ${MAX_PENDING_REQUESTS} requests waiting; retry after ${RETRY_AFTER_SECONDS} s`),
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

/**
 * Serves the API on the HttpServer in context; requests are not traced (probes would flood the traces).
 */
export const serve = HttpApiBuilder.serve().pipe(
  Layer.provide(refusals),
  Layer.provide(apiLayer),
  HttpMiddleware.withTracerDisabledWhen(() => true)
)
