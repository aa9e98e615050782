/**
 * The pod's HTTP API served from its declaration (`@miroir/pod-api`) by HttpApiBuilder. Readiness never depends
 * on discovery: if it did, a DNS outage would take every pod out of the Service at once, and DNS would
 * then list nobody.
 *
 * No request can stall the pod nor exhaust its memory: the server itself (internal/guardedServer.ts, with
 * the bounds of Limits.ts) takes a bounded number of connections, in all and per source address, cuts
 * slow clients off, answers the probes at once, holds a bounded number of requests and paces them into
 * the routes, so that `/healthz` keeps answering and SIGTERM keeps working under a flood. `/ownership`
 * (OwnershipRoutes.ts) answers from the Rendezvous service with its JSON encoded once into bytes every
 * answer shares, and passes a RequestGate (a few at once, a bounded queue, then a 503 with `Retry-After`).
 * `POST /hints` reads at most Limits.HINT_MAX_BYTES of body, and takes hints only as JSON from the pods
 * they are about; error answers quote at most 64 characters of what they refuse. Nothing here starts the
 * pod's leave: only the admin listener on its loopback does (AdminApi/Server.ts).
 */
import type { Server } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { PeerDiscovery, PeerHealth, PeerId, PeerSet } from "@miroir/peer-discovery"
// The types of apiLayer and serve name the Rendezvous service (OwnershipRoutes.ts reads it): declaration
// emit can name it only through an import in scope here.
// eslint-disable-next-line @typescript-eslint/no-unused-vars
import type { Rendezvous } from "@miroir/peer-discovery"
import { Context, Effect, Layer, Metric, Option, Schema, SchemaIssue } from "effect"
import { HttpMiddleware, HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"
import { type HttpApiError, HttpApiBuilder, HttpApiMiddleware } from "effect/http-api"
import { AppConfig } from "../AppConfig.js"
import * as AppMetrics from "../AppMetrics.js"
import * as BoundedBody from "../internal/boundedBody.js"
import { excerpt, quoteExcerpt } from "../internal/excerpt.js"
import { GuardedServer } from "../internal/guardedServer.js"
import { PeerAddresses } from "../PeerAddresses.js"
import { PingAnswer } from "../PingAnswer.js"
import { PingsReceived } from "../PingsReceived.js"
import { RETRY_AFTER_SECONDS } from "../RequestGate.js"
import {
  BadRequest,
  Busy,
  Forbidden,
  HintBody,
  MethodNotAllowed,
  methods,
  NotFound,
  paths,
  PayloadTooLarge,
  PodApi,
  PodErrors,
  SHARDS_EXPECTED,
  SILENT_FOR_EXPECTED,
  UnsupportedMediaType
} from "@miroir/pod-api"
import * as Limits from "./Limits.js"
import { ownershipGroup } from "./OwnershipRoutes.js"
import { pingGroup } from "./PingRoutes.js"
import { probeAnswers } from "./ProbeServer.js"

const currentSet = Effect.flatMap(PeerDiscovery.PeerDiscovery, (discovery) => discovery.current)

const peersGroup = HttpApiBuilder.group(
  PodApi,
  "peers",
  (handlers) =>
    handlers.handle("peers", () =>
      Effect.gen(function*() {
        const set = yield* currentSet
        const health = yield* Effect.flatMap(PeerHealth.PeerHealth, (detector) => detector.current)
        return {
          self: set.self,
          peers: set.peers,
          refreshedAt: Option.match(set.refreshedAt, { onNone: () => null, onSome: (at) => at.toISOString() }),
          stale: set.stale,
          selfInDns: set.selfInDns,
          digest: PeerSet.digest(set),
          suspected: health.suspected,
          down: health.down,
          fenced: health.fenced
        }
      }))
)

const probesGroup = HttpApiBuilder.group(PodApi, "probes", (handlers) =>
  handlers
    .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
    .handle("readyz", () => Effect.succeed({ status: "ready" as const })))

/**
 * The body of `request`, at most `maxBytes` (internal/boundedBody.ts): a larger one is a {@link PayloadTooLarge}
 * (413) as soon as its `Content-Length` says so, or once that much of a streamed body has arrived, and the
 * client reads that answer (no reset); one that does not arrive whole is a {@link BadRequest}.
 */
const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<Uint8Array, PayloadTooLarge | BadRequest> =>
  BoundedBody.readRequest(request, maxBytes).pipe(
    Effect.catchTags({
      BodyTooLarge: (tooLarge) =>
        Effect.andThen(
          Metric.update(AppMetrics.httpRefusedWith("body_too_large"), 1),
          Effect.fail(
            new PayloadTooLarge({
              error: Option.match(tooLarge.declared, {
                onNone: () => `the body is larger than ${maxBytes} bytes, the most this endpoint reads`,
                onSome: (declared) =>
                  `the body is ${declared} bytes (Content-Length), more than the ${maxBytes} this endpoint reads`
              }),
              maxBytes
            })
          )
        ),
      BodyNotReceived: () => Effect.fail(new BadRequest({ error: "the body did not arrive whole" }))
    })
  )

const decodeHint = Schema.decodeUnknownEffect(Schema.fromJsonString(HintBody))

/** The one content type a hint comes in (parameters such as `charset` aside). */
const HINT_CONTENT_TYPE = "application/json"

/**
 * `POST /hints`: a peer's refresh hint, handed to discovery, which may only look up sooner because of it.
 * Raw: the body is read here, within Limits.HINT_MAX_BYTES (a hint is about 60 bytes: a bigger body gets
 * a 413 before it is read whole). Checked in order, each refusal counted and costing no lookup and no hint
 * slot: the content type (415 unless `application/json`: a browser page can send a form or `text/plain`
 * to any site, not JSON), the body (400 unless a hint), and the sender (403 unless the connection comes
 * from the address of the pod the hint names or of a peer of this pod's view: PeerAddresses.senderOf).
 * Each refusal is an error of the contract, which the builder answers with its own status and body.
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
          yield* Metric.update(AppMetrics.hintsRefusedWith("content_type"), 1)
          return yield* Effect.fail(
            new UnsupportedMediaType({
              error: `a hint is ${HINT_CONTENT_TYPE}, got ${
                contentType === "" ? "no content type" : quoteExcerpt(contentType)
              }`,
              accepted: [HINT_CONTENT_TYPE]
            })
          )
        }
        const body = yield* readBody(request, Limits.HINT_MAX_BYTES)
        const { kind, peer } = yield* decodeHint(new TextDecoder().decode(body)).pipe(
          Effect.tapError(() => Metric.update(AppMetrics.hintsRefusedWith("malformed"), 1)),
          Effect.mapError(() =>
            new BadRequest({ error: "a hint is {\"kind\": \"joined\" | \"left\", \"peer\": \"<id>\"}" })
          )
        )
        const source = Option.getOrElse(request.remoteAddress, () => "")
        const sender = yield* Effect.flatMap(PeerAddresses, (addresses) =>
          addresses.senderOf(PeerId.PeerId(peer), source))
        if (sender === "unknown") {
          yield* Metric.update(AppMetrics.hintsRefusedWith("source"), 1)
          return yield* Effect.fail(
            new Forbidden({
              error: `a hint about ${
                excerpt(peer)
              } is taken only from that pod or a peer of this pod's view, not from ${
                source === "" ? "an unknown address" : source
              }`,
              source
            })
          )
        }
        if (peerHints === "off") {
          yield* Metric.update(AppMetrics.hintsOffWith(kind), 1)
          return { result: "off" as const }
        }
        const result = yield* Effect.flatMap(
          PeerDiscovery.PeerDiscovery,
          (d) => d.hint({ kind, peer: PeerId.PeerId(peer) })
        )
        return { result }
      }))
)

/** The value of query parameter `name` as received (repeated: joined by commas); none when absent. */
const queryValue = (request: HttpServerRequest.HttpServerRequest, name: string): string | null => {
  const values = new URL(request.url, "http://localhost").searchParams.getAll(name)
  return values.length === 0 ? null : values.join(",")
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A request part that did not decode, as the {@link BadRequest} the contract declares instead of the
 * platform's empty 400: a query parameter is named with what it must be (`expected`, by parameter: the
 * contract's own sentence, whatever was wrong, a repeated parameter included; else Schema's) and the value
 * received (quoted at most to a bounded prefix, internal/excerpt.ts: a 16 KB value must not earn a 32 KB
 * answer). An answer that does not encode (`Body`, `ResponseHeaders`) is this pod's fault: left to the
 * builder, a 500.
 */
export const badRequestOf = (expected: Readonly<Record<string, string>>) =>
(
  error: HttpApiError.HttpApiSchemaError
): Effect.Effect<never, BadRequest | HttpApiError.HttpApiSchemaError, HttpServerRequest.HttpServerRequest> => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.fail(error)
  const issue = formatIssues(error.cause.issue).issues[0]
  const parameter = issue?.path?.[0]
  if (issue === undefined || error.kind !== "Query" || typeof parameter !== "string") {
    return Effect.fail(new BadRequest({ error: issue?.message ?? `the request's ${error.kind} did not decode` }))
  }
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const value = queryValue(request, parameter)
    return Effect.fail(
      new BadRequest({
        error: `${parameter} ${expected[parameter] ?? issue.message}, got ${
          value === null ? "null" : quoteExcerpt(value)
        }`,
        parameter,
        value: value === null ? null : excerpt(value)
      })
    )
  })
}

/** The pod API's {@link PodErrors}: every request part that does not decode is a {@link BadRequest}. */
const podErrors = HttpApiMiddleware.layerSchemaErrorTransform(
  PodErrors,
  badRequestOf({ shards: SHARDS_EXPECTED, silentForMs: SILENT_FOR_EXPECTED })
)

/**
 * What the declaration says of requests no route takes, as a global middleware of the router: an unknown
 * path is a {@link NotFound} listing the paths; another method on a known path a {@link MethodNotAllowed}
 * with the `Allow` header (the router alone would answer both with an empty 404). `methods` and `paths`
 * are the API's (`@miroir/pod-api`'s; the admin API has its own).
 */
export const refuse = (methods: ReadonlyMap<string, string>, paths: ReadonlyArray<string>) =>
  HttpRouter.middleware((app) =>
    Effect.catch(app, (error) => {
      if (!HttpServerError.isHttpServerError(error) || error.reason._tag !== "RouteNotFound") return Effect.fail(error)
      const request = error.reason.request
      const path = new URL(request.url, "http://localhost").pathname
      const allowed = methods.get(path)
      return Effect.succeed(
        allowed === undefined
          ? new NotFound({ error: `no such path: ${excerpt(path)}`, paths }).response
          : new MethodNotAllowed({ error: `method ${request.method} not allowed on ${path}`, allowed: [allowed] })
            .response
      )
    }), { global: true })

/**
 * The API's routes, over what they read: discovery, configuration, ownership ({@link Rendezvous}), the gate, the audit and where
 * peers are; with their refusals (JSON 400, 404, 405).
 */
export const apiLayer = Layer.mergeAll(HttpApiBuilder.layer(PodApi), refuse(methods, paths)).pipe(
  Layer.provide([peersGroup, ownershipGroup, probesGroup, pingGroup, hintsGroup]),
  Layer.provide(podErrors)
)

/**
 * The HTTP server on `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT`, listening, without routes yet ({@link serve} adds
 * them): a layer of its own so that what the routes need can know the port first. It is guarded
 * (internal/guardedServer.ts) with the bounds of Limits.ts: connections in all and per source, Node's
 * timeouts and an idle one, requests held at once; it answers `GET /healthz`, `GET /readyz` and `GET /ping`
 * itself, at once (a ping with the {@link PingAnswer} in context, its source handed to the
 * {@link PingsReceived} in context), and hands the other requests to the routes Limits.REQUESTS_PER_TURN
 * per turn of the event loop. Every refusal is counted (`miroir_http_refused_total{reason}`). At shutdown open
 * connections are dropped, so that an idle keep-alive connection (a prober's, a scraper's) cannot hold the
 * process for seconds.
 */
export const serverLayer = Layer.unwrap(Effect.gen(function*() {
  const settings = yield* AppConfig
  const pingAnswer = yield* PingAnswer
  const pings = yield* PingsReceived
  // Every reason is a series from the start, at 0.
  for (const reason of AppMetrics.httpRefusals) AppMetrics.countRefusal(reason, 0)
  const server = new GuardedServer({
    // Also on a port of their own when MIROIR_PROBE_PORT is set (ProbeServer.ts), which the chart probes;
    // the failure detector's pings too, so that a flood of this port holds them no more than the probes:
    // their answer (the peers this pod holds down) is read from PingAnswer as each arrives.
    constant: { ...probeAnswers, "/ping": pingAnswer.body },
    onConstant: (path, source) => {
      if (path !== "/ping") return
      AppMetrics.countProbeReceived()
      // Whether it is a peer's ping is PingsReceived's to find out, out of the server's way.
      pings.received(source)
    },
    perTurn: Limits.REQUESTS_PER_TURN,
    maxPipelined: Limits.MAX_PIPELINED_REQUESTS,
    maxHeld: Limits.MAX_HELD_REQUESTS,
    connections: {
      total: Limits.MAX_CONNECTIONS,
      perSource: Limits.MAX_CONNECTIONS_PER_SOURCE,
      reserve: Limits.RESERVED_CONNECTIONS,
      lightSource: Limits.LIGHT_SOURCE_CONNECTIONS
    },
    timeouts: Limits.TIMEOUTS,
    busy: new Busy({
      error: `busy: ${Limits.MAX_HELD_REQUESTS} requests in progress or waiting; retry after ${RETRY_AFTER_SECONDS} s`,
      retryAfterSeconds: RETRY_AFTER_SECONDS
    }),
    onRefused: AppMetrics.countRefusal,
    onCounts: AppMetrics.countOpen
  })
  return listening(server, {
    port: settings.httpPort,
    host: settings.httpHost,
    backlog: Limits.LISTEN_BACKLOG
  })
}))

/**
 * Drops every connection of the server the routes are served on, and stops its listening: {@link serveRoutes}
 * does it at shutdown before the routes stop.
 */
export class Connections extends Context.Service<Connections, {
  readonly drop: Effect.Effect<void>
}>()("@miroir/miroir/HttpApi/Connections") {}

/**
 * `server` listening (the platform's HttpServer over it, with its {@link Connections}) for as long as the
 * layer lives. At its end the connections are dropped at once, should no {@link serveRoutes} have done it
 * already: the platform's own release then finds the server closed. (Its preemptive shutdown is off: it
 * would wait for the connections, up to its graceful timeout.)
 */
export const listening = (server: Server, options: Omit<NodeHttpServer.Options, "disablePreemptiveShutdown">) => {
  const connections = Connections.of({
    drop: Effect.sync(() => {
      server.close()
      server.closeAllConnections()
    })
  })
  return Layer.effectDiscard(Effect.addFinalizer(() => connections.drop)).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => server, { ...options, disablePreemptiveShutdown: true })),
    Layer.merge(Layer.succeed(Connections, connections))
  )
}

/** Requests are neither traced (probes would flood the traces) nor logged one by one. */
export const untraced: Layer.Layer<never> = Layer.succeed(HttpMiddleware.TracerDisabledWhen, () => true)

/**
 * Serves `routes` on the HttpServer in context, neither traced nor logged. At shutdown the server's
 * connections are dropped first, then the routes stop: as with effect 3, a request still under way when the
 * pod stops loses its connection, rather than getting effect 4's empty 503 of a request interrupted by the
 * server (a client then tries another pod either way, and no answer of the pod lacks its JSON body).
 */
export const serveRoutes = <E, R>(routes: Layer.Layer<never, E, R>) =>
  Layer.effectDiscard(Effect.flatMap(Connections, ({ drop }) => Effect.addFinalizer(() => drop))).pipe(
    Layer.provide(HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true })),
    Layer.provide(untraced)
  )

/** Serves the API on the HttpServer in context (see {@link serveRoutes}). */
export const serve = serveRoutes(apiLayer)
