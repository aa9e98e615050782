/**
 * The admin API served from its declaration (Contract.ts) by HttpApiBuilder, on the pod's loopback
 * (`MIROIR_ADMIN_HOST:MIROIR_ADMIN_PORT`, 127.0.0.1:7701 by default): the pod's own program reaches it
 * from inside the pod (the preStop exec, `miroir leave`), and nothing on the network can. Not paced nor
 * gated like the pod API: no flood from outside can reach it, and the hook it answers must be neither
 * delayed nor refused (the kubelet would then send SIGTERM without the delay).
 */
import { createServer } from "node:http"
import { Clock, Data, Duration, Effect, Layer } from "effect"
import type { Etag, HttpPlatform, HttpServer } from "effect/http"
import type { FileSystem } from "effect/FileSystem"
import type { Path } from "effect/Path"
import { HttpApiBuilder, HttpApiMiddleware } from "effect/http-api"
import { AppConfig } from "../AppConfig.js"
import { badRequestOf, type Connections, listening, refuse, serveRoutes } from "../HttpApi/Server.js"
import { LEAVE_DELAY_EXPECTED } from "../internal/leaveDelay.js"
import { Leave } from "../Leave.js"
import { AdminApi, AdminErrors, methods, paths } from "./Contract.js"

/**
 * `POST /leave?delay=…`: the preStop hook's request, as termination starts. Starts this pod's leave (or
 * joins it, or answers the one that completed: Leave.ts) and sleeps the delay meanwhile, answering once
 * both are over, so that SIGTERM, which the kubelet sends after the hook, comes no sooner than the delay:
 * the pod keeps serving while its removal from the endpoints reaches kube-proxy and the other pods, as
 * the preStop sleep it replaces did.
 */
const leaveGroup = HttpApiBuilder.group(
  AdminApi,
  "lifecycle",
  (handlers) =>
    handlers.handle("leave", ({ query }) =>
      Effect.gen(function*() {
        const delay = query.delay ?? Duration.zero
        const started = yield* Clock.currentTimeMillis
        yield* Effect.logInfo("leave requested (admin listener)").pipe(
          Effect.annotateLogs({ delay: Duration.format(delay) })
        )
        const [outcome] = yield* Effect.all([Effect.flatMap(Leave, (service) => service.leave), Effect.sleep(delay)], {
          concurrency: 2
        })
        return { ...outcome, tookMs: (yield* Clock.currentTimeMillis) - started }
      }))
)

/** The admin listener could not listen: its address is in use, or not on this host. */
export class AdminListenError extends Data.TaggedError("AdminListenError")<{
  readonly address: string
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `cannot start the admin listener on ${this.address} (MIROIR_ADMIN_HOST, MIROIR_ADMIN_PORT): ${reason}`
  }
}

/** The routes of the admin API, with the pod API's refusals (JSON 400, 404, 405) for its own paths. */
const routes = Layer.mergeAll(HttpApiBuilder.layer(AdminApi), refuse(methods, paths)).pipe(
  Layer.provide(leaveGroup),
  Layer.provide(HttpApiMiddleware.layerSchemaErrorTransform(AdminErrors, badRequestOf({ delay: LEAVE_DELAY_EXPECTED })))
)

/**
 * What the admin API is served on: an HTTP server with its {@link Connections} and the services the
 * builder needs. {@link loopback} in a pod; tests that call the routes without a socket pass a server in
 * memory.
 */
export type AdminListener = Layer.Layer<
  HttpServer.HttpServer | Connections | HttpPlatform.HttpPlatform | Etag.Generator | FileSystem | Path,
  AdminListenError,
  AppConfig
>

/**
 * A server listening on `MIROIR_ADMIN_HOST:MIROIR_ADMIN_PORT` (the pod's loopback, 127.0.0.1:7701 by
 * default); it cannot listen: an {@link AdminListenError}.
 */
export const loopback: AdminListener = Layer.unwrap(
  Effect.map(AppConfig, (settings) =>
    Layer.effectContext(
      Layer.build(listening(createServer(), { port: settings.adminPort, host: settings.adminHost })).pipe(
        Effect.mapError((error) =>
          new AdminListenError({ address: `${settings.adminHost}:${settings.adminPort}`, cause: error.cause })
        )
      )
    ))
)

/**
 * The admin listener: the admin API served on `listener` ({@link loopback} unless told), over the pod's
 * {@link Leave}. At shutdown open connections are dropped: a hook still waiting for its delay must not
 * hold the process. Its routes live in a router of their own (HttpRouter.serve builds one per server), so
 * that `POST /leave` is never served on the network-facing port.
 */
export const layer = (listener: AdminListener = loopback): Layer.Layer<never, AdminListenError, AppConfig | Leave> =>
  serveRoutes(routes).pipe(Layer.provide(listener))
