/**
 * The kubelet's probes on a port of their own (`MIROIR_PROBE_PORT`; the chart's 7702): `GET /healthz` and
 * `GET /readyz` answered with the same constants as on the API's port, and nothing else.
 *
 * Why a port of their own: Node (libuv since 1.45, Node 20) accepts one connection per listening socket
 * per turn of its event loop (libuv PR 3696), and the kernel queues a listener's waiting connections in
 * the order they came. A probe's connection to the API's port therefore waits behind every connection of a
 * flood that came before it, one turn each: a thousand connections asking for `/ownership?shards=65536`
 * held probes for over 2 s on two busy cores (BENCHMARKS.md §5), however fast the server answers the probe
 * once it has it. A listener of its own has a queue of its own, which the flood does not fill: the probe is
 * accepted at the next turn. With the chart's NetworkPolicy on, only the node (the kubelet) reaches it at
 * all; without, it is guarded like the API's port, with smaller limits (internal/sideServer.ts).
 */
import { Effect, Layer, Option, Schema } from "effect"
import { AppConfig } from "../AppConfig.js"
import type { GuardedServer } from "../internal/guardedServer.js"
import { makeSideServer } from "../internal/sideServer.js"
import { NotFound, StatusBody } from "@miroir/pod-api"

const status = Schema.encodeSync(StatusBody)

/** The probes' answers, by path: constants (liveness and readiness say only that this process serves). */
export const probeAnswers: Readonly<Record<string, string>> = {
  "/healthz": JSON.stringify(status({ status: "ok" })),
  "/readyz": JSON.stringify(status({ status: "ready" }))
}

/** The probe port could not listen. */
export class ProbeServerError extends Schema.TaggedError<ProbeServerError>()("ProbeServerError", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot serve the probes on ${this.address}: ${this.reason}`
  }
}

const notFound = Buffer.from(
  new NotFound({ error: "only the probes are served on this port", paths: Object.keys(probeAnswers) }).json
)

/**
 * The probe listener on `MIROIR_HTTP_HOST:MIROIR_PROBE_PORT` for as long as the layer lives; nothing when
 * the port is unset. Build it once the API's server listens, so that readiness is not answered before.
 */
export const layer: Layer.Layer<never, ProbeServerError, AppConfig> = Layer.unwrap(
  Effect.map(AppConfig, (settings) =>
    Option.match(settings.probePort, {
      onNone: () => Layer.empty,
      onSome: (port) =>
        Layer.effectDiscard(Effect.acquireRelease(
          Effect.callback<GuardedServer, ProbeServerError>((resume) => {
            // Anything but the probes: a 404 naming them.
            const server = makeSideServer(probeAnswers, (_request, response) => {
              response.writeHead(404, { "content-type": "application/json", "content-length": notFound.byteLength })
              response.end(notFound)
            })
            server.once(
              "error",
              (cause) =>
                resume(
                  Effect.fail(new ProbeServerError({ address: `${settings.httpHost}:${port}`, reason: cause.message }))
                )
            )
            server.listen({ port, host: settings.httpHost }, () => resume(Effect.succeed(server)))
          }),
          // Open connections dropped too: an idle keep-alive one would hold the shutdown for seconds.
          (server) =>
            Effect.callback<void>((resume) => {
              server.close(() => resume(Effect.void))
              server.closeAllConnections()
            })
        ))
    }))
)
