/**
 * OpenTelemetry settings, from the standard OTEL_* variables, and the resource that describes this
 * pod (semantic conventions, from the Downward API). Read from the context like AppConfig's: the
 * {@link TelemetryConfig} Tag, {@link layer}, {@link layerFromEnv}.
 */
import { Config, Context, Duration, Effect, Layer, Option, Result } from "effect"
import { type ConfigError, ConfigVariable, PeerDiscoveryConfig } from "@miroir/peer-discovery"

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

/** The longest export interval, a day: Node's timers hold at most 2^31-1 ms. */
const MAX_EXPORT_INTERVAL_MS = 86_400_000

const httpUrl: ConfigVariable.Parse<string> = (value) => {
  try {
    const url = new URL(value)
    if (url.protocol === "http:" || url.protocol === "https:") return Result.succeed(value)
  } catch {
    // not a URL
  }
  return Result.fail("an http:// or https:// URL, such as http://otel-collector:4318")
}

/** `key=value,key=value`, values percent-decoded (the W3C Baggage form the OTel spec uses). */
const keyValues: ConfigVariable.Parse<Record<string, string>> = (value) => {
  const expected = "comma-separated key=value pairs, such as deployment.environment=prod,team=search"
  const pairs: Record<string, string> = {}
  for (const entry of value.split(",").map((e) => e.trim()).filter((e) => e.length > 0)) {
    const separator = entry.indexOf("=")
    if (separator <= 0) return Result.fail(expected)
    try {
      pairs[decodeURIComponent(entry.slice(0, separator).trim())] = decodeURIComponent(
        entry.slice(separator + 1).trim()
      )
    } catch {
      return Result.fail(expected)
    }
  }
  return Result.succeed(pairs)
}

const bool: ConfigVariable.Parse<boolean> = (value) =>
  ["true", "false"].includes(value.toLowerCase())
    ? Result.succeed(value.toLowerCase() === "true")
    : Result.fail("true or false")

const signalEndpoint = (base: Option.Option<string>, specific: Option.Option<string>, path: string) =>
  Option.orElse(specific, () => Option.map(base, (url) => `${url.replace(/\/+$/, "")}${path}`))

/** The resource attributes of a pod, per the semantic conventions (`k8s.*`, `service.instance.id`). */
export const podAttributes = (pod: PeerDiscoveryConfig.Settings): Record<string, string> => ({
  "service.instance.id": pod.podName,
  "k8s.pod.name": pod.podName,
  "k8s.namespace.name": pod.podNamespace,
  ...Option.match(pod.podIp, { onNone: () => ({}), onSome: (ip) => ({ "k8s.pod.ip": ip }) })
})

/** An OTEL_* variable: blanks around it ignored, a blank value taken as unset. */
const variable = <A>(name: string, parse: ConfigVariable.Parse<A>): Config.Config<A> =>
  ConfigVariable.variable(name, parse, { trimmed: true })

const text: ConfigVariable.Parse<string> = Result.succeed

const noPairs: Readonly<Record<string, string>> = {}

/** The OTEL_* variables as a `Config`; `pod` gives the resource attributes of this pod. */
export const config = (pod: PeerDiscoveryConfig.Settings): Config.Config<Settings> =>
  Config.all({
    disabled: Config.withDefault(variable("OTEL_SDK_DISABLED", bool), false),
    fromEnvironment: Config.withDefault(variable("OTEL_RESOURCE_ATTRIBUTES", keyValues), noPairs),
    serviceName: Config.option(variable("OTEL_SERVICE_NAME", text)),
    base: Config.option(variable("OTEL_EXPORTER_OTLP_ENDPOINT", httpUrl)),
    metrics: Config.option(variable("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", httpUrl)),
    traces: Config.option(variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", httpUrl)),
    protocol: Config.withDefault(
      variable("OTEL_EXPORTER_OTLP_PROTOCOL", ConfigVariable.oneOf(["http/protobuf", "http/json"])),
      "http/protobuf"
    ),
    headers: Config.withDefault(variable("OTEL_EXPORTER_OTLP_HEADERS", keyValues), noPairs),
    intervalMs: Config.withDefault(
      variable("OTEL_METRIC_EXPORT_INTERVAL", ConfigVariable.integer(100, MAX_EXPORT_INTERVAL_MS)),
      60_000
    ),
    spanDelayMs: Config.withDefault(
      variable("OTEL_BSP_SCHEDULE_DELAY", ConfigVariable.integer(100, MAX_EXPORT_INTERVAL_MS)),
      5_000
    )
  }).pipe(Config.map(({ base, fromEnvironment, intervalMs, metrics, spanDelayMs, traces, ...settings }) => {
    // The service name given on its own wins over the one among the resource attributes.
    const serviceName = Option.getOrElse(settings.serviceName, () => fromEnvironment["service.name"] ?? "miroir")
    return {
      disabled: settings.disabled,
      serviceName,
      resourceAttributes: { ...podAttributes(pod), ...fromEnvironment, "service.name": serviceName },
      metricsEndpoint: signalEndpoint(base, metrics, "/v1/metrics"),
      tracesEndpoint: signalEndpoint(base, traces, "/v1/traces"),
      protocol: settings.protocol,
      headers: settings.headers,
      metricExportInterval: Duration.millis(intervalMs),
      spanExportInterval: Duration.millis(spanDelayMs)
    }
  }))

/** Reads and validates the OTEL_* variables; `pod` gives the resource attributes of this pod. */
export const load = (pod: PeerDiscoveryConfig.Settings): Effect.Effect<Settings, ConfigError.ConfigError> =>
  ConfigVariable.load(config(pod))

/** The settings as a service: Telemetry's layers read them from the context. */
export class TelemetryConfig extends Context.Service<TelemetryConfig, Settings>()("@miroir/miroir/TelemetryConfig") {}

/** Settings already loaded ({@link load}) as the service. */
export const layer = (settings: Settings): Layer.Layer<TelemetryConfig> => Layer.succeed(TelemetryConfig, settings)

/** The OTEL_* variables read from the current ConfigProvider as the service, for the pod in context. */
export const layerFromEnv: Layer.Layer<
  TelemetryConfig,
  ConfigError.ConfigError,
  PeerDiscoveryConfig.PeerDiscoveryConfig
> = Layer.effect(TelemetryConfig, Effect.flatMap(PeerDiscoveryConfig.PeerDiscoveryConfig, load))
