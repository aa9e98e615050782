/**
 * The pod service as one Layer: configuration → resolver → discovery → ownership → HTTP API, Mode A
 * worker and process metrics, with telemetry underneath so that the first lookup is already traced.
 */
import type { HttpServer, HttpServerError } from "@effect/platform"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, Rendezvous } from "@miroir/peer-discovery"
import { Layer } from "effect"
import * as AppConfig from "./AppConfig.js"
import * as HttpApi from "./HttpApi.js"
import * as ModeAWorker from "./ModeAWorker.js"
import * as ProcessMetrics from "./ProcessMetrics.js"
import * as Telemetry from "./Telemetry.js"
import type * as TelemetryConfig from "./TelemetryConfig.js"

/** Everything the pod service is configured with. */
export interface Settings {
  readonly discovery: PeerDiscoveryConfig.Settings
  readonly app: AppConfig.Settings
  readonly telemetry: TelemetryConfig.Settings
}

/**
 * The whole service. `resolver` is `DnsResolver.layer` in a pod; tests pass the test resolver. The
 * layer exposes discovery, ownership and the HTTP server (for its address) to whoever builds it.
 */
export const layer = (
  settings: Settings,
  resolver: Layer.Layer<DnsResolver.DnsResolver, never, PeerDiscoveryConfig.PeerDiscoveryConfig> = DnsResolver.layer
): Layer.Layer<
  PeerDiscovery.PeerDiscovery | Rendezvous.Rendezvous | HttpServer.HttpServer,
  Telemetry.MetricsServerError | HttpServerError.ServeError
> => {
  const config = Layer.merge(
    Layer.succeed(PeerDiscoveryConfig.PeerDiscoveryConfig, settings.discovery),
    Layer.succeed(AppConfig.AppConfig, settings.app)
  )
  const ownership = Rendezvous.layer.pipe(
    Layer.provideMerge(PeerDiscovery.layer),
    Layer.provide(resolver)
  )
  const services = Layer.mergeAll(
    HttpApi.layer(settings.app),
    ModeAWorker.layer(settings.app.shards),
    ProcessMetrics.layer
  )
  return services.pipe(
    Layer.provideMerge(ownership),
    Layer.provide(config),
    Layer.provideMerge(Telemetry.prometheusLayer(settings.app, settings.telemetry)),
    Layer.provide(Telemetry.otlpLayer(settings.telemetry))
  )
}
