/**
 * OpenTelemetry settings, from the standard OTEL_* variables, and the resource that describes this
 * pod (semantic conventions, from the Downward API).
 */
import { Duration, Effect, Either, Option } from "effect"
import type { ConfigError, PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { integer, oneOf, raw, variable } from "./internal/env.js"

/** The OTLP serialisations supported (gRPC is not). */
export type OtlpProtocol = "http/protobuf" | "http/json"

/** Validated OpenTelemetry settings. */
export interface Settings {
  /** `OTEL_SDK_DISABLED=true`: no OTLP export at all (Prometheus /metrics stays). */
  readonly disabled: boolean
  /** `service.name` (`OTEL_SERVICE_NAME`, default `miroir`). */
  readonly serviceName: string
  /** The resource attributes: this pod's, overridden by `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly resourceAttributes: Readonly<Record<string, string>>
  /** Where OTLP metrics go, if anywhere. */
  readonly metricsEndpoint: Option.Option<string>
  /** Where OTLP traces go, if anywhere. */
  readonly tracesEndpoint: Option.Option<string>
  /** `OTEL_EXPORTER_OTLP_PROTOCOL`, default `http/protobuf`. */
  readonly protocol: OtlpProtocol
  /** `OTEL_EXPORTER_OTLP_HEADERS`, e.g. an API key. */
  readonly headers: Readonly<Record<string, string>>
  /** `OTEL_METRIC_EXPORT_INTERVAL` (ms), default 60 s. */
  readonly metricExportInterval: Duration.Duration
  /** `OTEL_BSP_SCHEDULE_DELAY` (ms): how often finished spans are sent, default 5 s. */
  readonly spanExportInterval: Duration.Duration
}

const httpUrl = (value: string): Either.Either<string, string> => {
  try {
    const url = new URL(value)
    if (url.protocol === "http:" || url.protocol === "https:") return Either.right(value)
  } catch {
    // not a URL
  }
  return Either.left("an http:// or https:// URL, such as http://otel-collector:4318")
}

/** `key=value,key=value`, values percent-decoded (the W3C Baggage form the OTel spec uses). */
const keyValues = (value: string): Either.Either<Record<string, string>, string> => {
  const expected = "comma-separated key=value pairs, such as deployment.environment=prod,team=search"
  const pairs: Record<string, string> = {}
  for (const entry of value.split(",").map((e) => e.trim()).filter((e) => e.length > 0)) {
    const separator = entry.indexOf("=")
    if (separator <= 0) return Either.left(expected)
    try {
      pairs[decodeURIComponent(entry.slice(0, separator).trim())] = decodeURIComponent(entry.slice(separator + 1).trim())
    } catch {
      return Either.left(expected)
    }
  }
  return Either.right(pairs)
}

const bool = (value: string): Either.Either<boolean, string> =>
  ["true", "false"].includes(value.toLowerCase())
    ? Either.right(value.toLowerCase() === "true")
    : Either.left("true or false")

const signalEndpoint = (base: Option.Option<string>, specific: Option.Option<string>, path: string) =>
  Option.orElse(specific, () => Option.map(base, (url) => `${url.replace(/\/+$/, "")}${path}`))

/** The resource attributes of a pod, per the semantic conventions (`k8s.*`, `service.instance.id`). */
export const podAttributes = (pod: PeerDiscoveryConfig.Settings): Record<string, string> => ({
  "service.instance.id": pod.podName,
  "k8s.pod.name": pod.podName,
  "k8s.namespace.name": pod.podNamespace,
  ...Option.match(pod.podIp, { onNone: () => ({}), onSome: (ip) => ({ "k8s.pod.ip": ip }) })
})

/** Reads and validates the OTEL_* variables; `pod` gives the resource attributes of this pod. */
export const load = (pod: PeerDiscoveryConfig.Settings): Effect.Effect<Settings, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const disabled = yield* variable("OTEL_SDK_DISABLED", false, bool)
    const fromEnvironment = yield* variable("OTEL_RESOURCE_ATTRIBUTES", {}, keyValues)
    const serviceName = (yield* raw("OTEL_SERVICE_NAME")) ?? fromEnvironment["service.name"] ?? "miroir"
    const base = yield* variable("OTEL_EXPORTER_OTLP_ENDPOINT", Option.none(), (v) => Either.map(httpUrl(v), Option.some))
    const metrics = yield* variable("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", Option.none(), (v) => Either.map(httpUrl(v), Option.some))
    const traces = yield* variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Option.none(), (v) => Either.map(httpUrl(v), Option.some))
    const protocol = yield* variable("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", oneOf(["http/protobuf", "http/json"]))
    const headers = yield* variable("OTEL_EXPORTER_OTLP_HEADERS", {}, keyValues)
    const intervalMs = yield* variable("OTEL_METRIC_EXPORT_INTERVAL", 60_000, integer(100, 86_400_000))
    const spanDelayMs = yield* variable("OTEL_BSP_SCHEDULE_DELAY", 5_000, integer(100, 86_400_000))
    return {
      disabled,
      serviceName,
      resourceAttributes: { ...podAttributes(pod), ...fromEnvironment, "service.name": serviceName },
      metricsEndpoint: signalEndpoint(base, metrics, "/v1/metrics"),
      tracesEndpoint: signalEndpoint(base, traces, "/v1/traces"),
      protocol,
      headers,
      metricExportInterval: Duration.millis(intervalMs),
      spanExportInterval: Duration.millis(spanDelayMs)
    }
  })
