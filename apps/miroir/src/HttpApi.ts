/**
 * The HTTP API of a pod: what operators and other pods read. Every endpoint only reads; none
 * changes state. Readiness never depends on discovery: if it did, a DNS outage would take every pod
 * out of the Service at once, and DNS would then list nobody.
 */
import { createServer } from "node:http"
import { HttpMiddleware, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { PeerDiscovery, Rendezvous } from "@miroir/peer-discovery"
import { Effect, Layer, Option, Schema } from "effect"
import { AppConfig, MAX_SHARDS } from "./AppConfig.js"

/** The JSON body of `GET /peers`; the schema is the contract, shared with the tests. */
export const PeersBody = Schema.Struct({
  self: Schema.String,
  /** Sorted. */
  peers: Schema.Array(Schema.String),
  /** ISO-8601 time of the last DNS answer; null before the first. */
  refreshedAt: Schema.NullOr(Schema.String),
  stale: Schema.Boolean,
  selfInDns: Schema.Boolean
})

/** The JSON body of `GET /ownership`. */
export const OwnershipBody = Schema.Struct({
  self: Schema.String,
  peers: Schema.Array(Schema.String),
  shards: Schema.Int,
  /** Ascending. */
  owned: Schema.Array(Schema.Int)
})

/** The JSON body of `GET /healthz` and `GET /readyz`. */
export const StatusBody = Schema.Struct({ status: Schema.Literal("ok", "ready") })

/** The JSON body of every error answer (400, 404, 405). */
export const ErrorBody = Schema.Struct({
  error: Schema.String,
  /** The query parameter at fault (400). */
  parameter: Schema.optional(Schema.String),
  /** Its value as received (400), null when absent. */
  value: Schema.optional(Schema.NullOr(Schema.String)),
  /** The methods allowed on the path (405). */
  allowed: Schema.optional(Schema.Array(Schema.String)),
  /** The paths served (404). */
  paths: Schema.optional(Schema.Array(Schema.String))
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
    selfInDns: set.selfInDns
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
  const set = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)
  return yield* respond(OwnershipBody, {
    self: set.self,
    peers: set.peers,
    shards,
    owned: Rendezvous.ownedShards(shards, set.self, set.peers)
  })
})

/** The paths served, each answering GET only. */
export const paths = ["/peers", "/ownership", "/healthz", "/readyz"] as const

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/peers", peers),
  HttpRouter.get("/ownership", ownership),
  HttpRouter.get("/healthz", respond(StatusBody, { status: "ok" })),
  HttpRouter.get("/readyz", respond(StatusBody, { status: "ready" }))
)

/** The application: the routes, 405 for another method on a known path, 404 elsewhere, all JSON. */
export const app = router.pipe(
  Effect.catchTag("RouteNotFound", () =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = new URL(request.url, "http://localhost").pathname
      return yield* (paths as ReadonlyArray<string>).includes(path)
        ? respond(ErrorBody, { error: `method ${request.method} not allowed on ${path}`, allowed: ["GET"] }, 405, { allow: "GET" })
        : respond(ErrorBody, { error: `no such path: ${path}`, paths }, 404)
    }))
)

/**
 * Serves {@link app} on `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT`; requests are not traced (probes would flood
 * the traces). At shutdown open connections are dropped, so that an idle keep-alive connection (a
 * prober's, a scraper's) cannot hold the process for seconds.
 */
export const layer = (settings: Pick<AppConfig["Type"], "httpHost" | "httpPort">) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const server = createServer()
    // Runs before the platform's own release, which then finds the server closed.
    const closeAtShutdown = Layer.scopedDiscard(Effect.addFinalizer(() =>
      Effect.sync(() => {
        server.close()
        server.closeAllConnections()
      })
    ))
    return HttpServer.serve(app).pipe(
      HttpMiddleware.withTracerDisabledWhen(() => true),
      Layer.provideMerge(closeAtShutdown),
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: settings.httpPort, host: settings.httpHost }))
    )
  }))
