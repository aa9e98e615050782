/**
 * Where the Effect metrics and spans go: Prometheus text on `/metrics` (OpenTelemetry's Prometheus
 * exporter, fed by @effect/opentelemetry's OtelMetrics bridge), and OTLP over HTTP when an endpoint is set
 * (effect/observability's OtlpMetrics/OtlpTracer, protobuf or JSON). An unreachable collector costs a
 * warning log line per signal and a minute without exports (effect 4's exporter then pauses), and nothing
 * else: exports run in their own fibers.
 */
import type { Server } from "node:http"
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as Resource from "@effect/opentelemetry/Resource"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import { Data, Duration, Effect, Layer, Option } from "effect"
import { OtlpMetrics, OtlpSerialization, OtlpTracer } from "effect/observability"
import { AppConfig } from "./AppConfig.js"
import { makeSideServer } from "./internal/sideServer.js"
import { TelemetryConfig } from "./TelemetryConfig.js"

/** How long the final OTLP flush may take at shutdown, so that the pod exits in time anyway. */
export const SHUTDOWN_FLUSH_TIMEOUT = Duration.seconds(2)

/** The metrics endpoint could not listen. */
export class MetricsServerError extends Data.TaggedError("MetricsServerError")<{
  readonly address: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `cannot serve /metrics on ${this.address}: ${String((this.cause as Error)?.message ?? this.cause)}`
  }
}

/**
 * Listens on `host:port` with `server` for as long as the scope lives. Closing drops open connections
 * too: an idle keep-alive connection (a scraper's) would otherwise hold the shutdown for seconds.
 */
const listenScoped = <E>(server: Server, host: string, port: number, onError: (cause: Error) => E) =>
  Effect.acquireRelease(
    Effect.callback<void, E>((resume) => {
      server.once("error", (cause) => resume(Effect.fail(onError(cause))))
      server.listen(port, host, () => resume(Effect.void))
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )

/**
 * Prometheus text format of every Effect metric on `http://<host>:<metricsPort>/metrics`, produced by
 * OpenTelemetry's Prometheus exporter behind a server of our own: a port that cannot be listened on
 * fails the start (the exporter's own server would only log it), shutdown drops open connections, and it
 * is guarded (internal/sideServer.ts) so that no flood of the port costs the heap.
 */
export const prometheusLayer: Layer.Layer<never, MetricsServerError, AppConfig | TelemetryConfig> = Layer.unwrap(
  Effect.gen(function*() {
    const app = yield* AppConfig
    const telemetry = yield* TelemetryConfig
    return Layer.unwrap(
      Effect.gen(function*() {
        const exporter = new PrometheusExporter({ preventServerStart: true })
        // Guarded like the API's port, with small limits: no flood of /metrics may cost the heap either.
        const server = makeSideServer({}, (request, response) => {
          if (new URL(request.url ?? "/", "http://localhost").pathname === "/metrics") {
            exporter.getMetricsRequestHandler(request, response)
          } else {
            response.writeHead(404, { "content-type": "application/json" }).end(
              JSON.stringify({ error: "only /metrics is served here" })
            )
          }
        })
        yield* listenScoped(
          server,
          app.httpHost,
          app.metricsPort,
          (cause) => new MetricsServerError({ address: `${app.httpHost}:${app.metricsPort}`, cause })
        )
        return OtelMetrics.layer(() => exporter, { shutdownTimeout: SHUTDOWN_FLUSH_TIMEOUT })
      })
    ).pipe(
      Layer.provide(Resource.layer({ serviceName: telemetry.serviceName, attributes: telemetry.resourceAttributes }))
    )
  })
)

/** The OTLP exporters of `telemetry`. */
const otlpOf = (telemetry: TelemetryConfig["Service"]): Layer.Layer<never> => {
  if (telemetry.disabled) return Layer.empty
  const options = (url: string, exportInterval: Duration.Duration) => ({
    url,
    resource: { serviceName: telemetry.serviceName, attributes: telemetry.resourceAttributes },
    headers: telemetry.headers,
    exportInterval,
    shutdownTimeout: SHUTDOWN_FLUSH_TIMEOUT
  })
  const exporters = [
    Option.map(telemetry.metricsEndpoint, (url) => OtlpMetrics.layer(options(url, telemetry.metricExportInterval))),
    Option.map(telemetry.tracesEndpoint, (url) => OtlpTracer.layer(options(url, telemetry.spanExportInterval)))
  ].flatMap(Option.toArray)
  if (exporters.length === 0) return Layer.empty
  // Merged, the exporters are released at once (Layer.mergeAll builds each in a scope of its own under a
  // parallel one): their last flushes each wait up to SHUTDOWN_FLUSH_TIMEOUT for a collector that does not
  // answer, and one after the other they would take twice that (4 s of the pod's 5 s to stop).
  return Layer.mergeAll(...(exporters as [(typeof exporters)[number]])).pipe(
    Layer.provide(telemetry.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(NodeHttpClient.layerUndici)
  )
}

/** OTLP push of metrics and spans to the configured endpoints; nothing when none is set or OTel is disabled. */
export const otlpLayer: Layer.Layer<never, never, TelemetryConfig> = Layer.unwrap(Effect.map(TelemetryConfig, otlpOf))
