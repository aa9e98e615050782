/**
 * Where the Effect metrics and spans go: Prometheus text on `/metrics` (OpenTelemetry's Prometheus
 * exporter, fed by @effect/opentelemetry's metrics bridge), and OTLP over HTTP when an endpoint is set
 * (@effect/opentelemetry's OtlpMetrics/OtlpTracer, protobuf or JSON). An unreachable collector costs a
 * debug log line and nothing else: exports run in their own fibers.
 */
import { createServer } from "node:net"
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as OtlpMetrics from "@effect/opentelemetry/OtlpMetrics"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as Resource from "@effect/opentelemetry/Resource"
import type { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import { Data, Duration, Effect, Layer, Option } from "effect"
import type * as AppConfig from "./AppConfig.js"
import type * as TelemetryConfig from "./TelemetryConfig.js"

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

/** Fails unless `host:port` can be listened on; the exporter itself only logs such an error. */
const checkListenable = (host: string, port: number) =>
  Effect.async<void, MetricsServerError>((resume) => {
    const probe = createServer()
    probe.once("error", (cause) => resume(Effect.fail(new MetricsServerError({ address: `${host}:${port}`, cause }))))
    probe.listen(port, host, () => probe.close(() => resume(Effect.void)))
  })

/** Prometheus text format of every Effect metric on `http://<host>:<metricsPort>/metrics`. */
export const prometheusLayer = (
  app: Pick<AppConfig.Settings, "httpHost" | "metricsPort">,
  telemetry: Pick<TelemetryConfig.Settings, "serviceName" | "resourceAttributes">
): Layer.Layer<never, MetricsServerError> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      yield* checkListenable(app.httpHost, app.metricsPort)
      const exporter = new PrometheusExporter({ host: app.httpHost, port: app.metricsPort, endpoint: "/metrics", preventServerStart: true })
      yield* Effect.tryPromise({
        try: () => exporter.startServer(),
        catch: (cause) => new MetricsServerError({ address: `${app.httpHost}:${app.metricsPort}`, cause })
      })
      return Metrics.layer(() => exporter, { shutdownTimeout: SHUTDOWN_FLUSH_TIMEOUT })
    })
  ).pipe(
    Layer.provide(Resource.layer({ serviceName: telemetry.serviceName, attributes: telemetry.resourceAttributes }))
  )

/** OTLP push of metrics and spans to the configured endpoints; nothing when none is set or OTel is disabled. */
export const otlpLayer = (telemetry: TelemetryConfig.Settings): Layer.Layer<never> => {
  if (telemetry.disabled) return Layer.empty
  const resource = { serviceName: telemetry.serviceName, attributes: telemetry.resourceAttributes }
  const exporters: Array<Layer.Layer<never, never, OtlpSerialization.OtlpSerialization | HttpClient.HttpClient>> = []
  Option.map(telemetry.metricsEndpoint, (url) =>
    exporters.push(OtlpMetrics.layer({
      url,
      resource,
      headers: telemetry.headers,
      exportInterval: telemetry.metricExportInterval,
      shutdownTimeout: SHUTDOWN_FLUSH_TIMEOUT
    })))
  Option.map(telemetry.tracesEndpoint, (url) =>
    exporters.push(OtlpTracer.layer({
      url,
      resource,
      headers: telemetry.headers,
      exportInterval: telemetry.spanExportInterval,
      shutdownTimeout: SHUTDOWN_FLUSH_TIMEOUT
    })))
  if (exporters.length === 0) return Layer.empty
  return Layer.mergeAll(...(exporters as [Layer.Layer<never, never, OtlpSerialization.OtlpSerialization | HttpClient.HttpClient>])).pipe(
    Layer.provide(telemetry.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(NodeHttpClient.layerUndici)
  )
}
