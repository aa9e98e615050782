/**
 * The pod service as one Layer: configuration → resolver → discovery → the failure detector (probing the
 * peers over their HTTP API) → ownership (the Rendezvous service, which every reader of the owners shares,
 * and the audit) → HTTP API, admin listener (the leave), shard worker, view digest and process metrics,
 * with telemetry underneath so that the first lookup is already traced.
 */
import {
  DnsResolver,
  PeerDiscovery,
  PeerDiscoveryConfig,
  PeerHealth,
  PeerHealthConfig,
  Rendezvous
} from "@miroir/peer-discovery"
import { Layer } from "effect"
import type { Etag, HttpPlatform, HttpServer, HttpServerError } from "effect/http"
import type { FileSystem } from "effect/FileSystem"
import type { Path } from "effect/Path"
import * as AdminServer from "./AdminApi/Server.js"
import * as AppConfig from "./AppConfig.js"
import * as ProbeServer from "./HttpApi/ProbeServer.js"
import * as HttpApiServer from "./HttpApi/Server.js"
import * as DepartureHints from "./DepartureHints.js"
import * as JoinedHints from "./JoinedHints.js"
import * as Leave from "./Leave.js"
import * as OwnershipAudit from "./OwnershipAudit.js"
import * as PeerAddresses from "./PeerAddresses.js"
import * as PeerMessaging from "./PeerMessaging.js"
import * as PingAnswer from "./PingAnswer.js"
import * as PingsReceived from "./PingsReceived.js"
import * as ProcessMetrics from "./ProcessMetrics.js"
import * as RequestGate from "./RequestGate.js"
import * as ShardWorker from "./ShardWorker.js"
import * as Telemetry from "./Telemetry.js"
import * as TelemetryConfig from "./TelemetryConfig.js"
import * as ViewDigest from "./ViewDigest.js"

/** Everything the pod service is configured with. */
export interface Settings {
  readonly discovery: PeerDiscoveryConfig.Settings
  readonly health: PeerHealthConfig.Settings
  readonly app: AppConfig.Settings
  readonly telemetry: TelemetryConfig.Settings
}

/**
 * What the API is served on: the HTTP server listening on `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT`
 * (HttpApiServer.serverLayer) in a pod; tests that call the routes without a socket pass a server in memory.
 */
export type Listener = Layer.Layer<
  HttpServer.HttpServer | HttpApiServer.Connections | HttpPlatform.HttpPlatform | Etag.Generator | FileSystem | Path,
  HttpServerError.ServeError,
  AppConfig.AppConfig | PingAnswer.PingAnswer | PingsReceived.PingsReceived
>

/**
 * What the two APIs are served on, each by default listening as in a pod: the pod API on
 * `MIROIR_HTTP_HOST:MIROIR_HTTP_PORT` (HttpApiServer.serverLayer), the admin API on its loopback
 * (AdminServer.loopback).
 */
export interface Listeners {
  readonly api?: Listener | undefined
  readonly admin?: AdminServer.AdminListener | undefined
}

/**
 * The whole service, over the configuration in context (PeerDiscoveryConfig, PeerHealthConfig, AppConfig, TelemetryConfig:
 * every part reads its settings from there). `resolver` is `DnsResolver.layer` in a pod; tests pass the
 * test resolver. `listeners` are what the API and the admin API are served on ({@link Listeners}). The layer exposes discovery, ownership and the HTTP server (for its address).
 */
export const layerFromConfig = (
  resolver: Layer.Layer<DnsResolver.DnsResolver, never, PeerDiscoveryConfig.PeerDiscoveryConfig> = DnsResolver.layer,
  listeners: Listeners = {}
): Layer.Layer<
  PeerDiscovery.PeerDiscovery | PeerHealth.PeerHealth | Rendezvous.Rendezvous | HttpServer.HttpServer,
  | Telemetry.MetricsServerError
  | HttpServerError.ServeError
  | AdminServer.AdminListenError
  | ProbeServer.ProbeServerError,
  | PeerDiscoveryConfig.PeerDiscoveryConfig
  | PeerHealthConfig.PeerHealthConfig
  | AppConfig.AppConfig
  | TelemetryConfig.TelemetryConfig
> => {
  const discovery = PeerDiscovery.layer.pipe(Layer.provideMerge(resolver))
  // The server listens first, so that talking to peers (the probes, the audit, the hints) knows the port
  // every pod serves on.
  const server = listeners.api ?? HttpApiServer.serverLayer
  const messaging = PeerMessaging.layer.pipe(Layer.provide(server))
  // Ownership over the peers DNS lists and the failure detector's verdicts about them, probed over HTTP.
  const ownership = Rendezvous.layer.pipe(
    Layer.provideMerge(PeerHealth.layer.pipe(Layer.provide(PeerMessaging.peerProbeLayer), Layer.provide(messaging)))
  )
  const audit = OwnershipAudit.layer.pipe(Layer.provide(messaging))
  const api = HttpApiServer.serve.pipe(
    Layer.provide(Layer.mergeAll(audit, RequestGate.layer())),
    Layer.provideMerge(server)
  )
  // The admin listener depends on the leave, so it closes first at shutdown, and the leave's finalizer
  // (the leave at SIGTERM, when no preStop hook completed it) runs while the pod's server still listens.
  const admin = AdminServer.layer(listeners.admin).pipe(Layer.provide(Leave.layer), Layer.provide(messaging))
  // The probes' own port, once the API's server listens and serves (the same `api`, built once).
  const probes = ProbeServer.layer.pipe(Layer.provide(api))
  const services = Layer.mergeAll(
    api,
    admin,
    probes,
    JoinedHints.layer.pipe(Layer.provide(messaging)),
    DepartureHints.layer.pipe(Layer.provide(messaging)),
    ShardWorker.layer,
    ViewDigest.layer,
    ProcessMetrics.layer,
    // The server answers pings with what the detector holds down, and tells it of its peers' pings.
    PingAnswer.layerFollowingHealth,
    PingsReceived.layerTellingDetector
  )
  return services.pipe(
    Layer.provideMerge(ownership),
    // Where peers are: this pod talks to them there, and takes hints and pings' news only from there.
    Layer.provideMerge(PeerAddresses.layer),
    // Below the server (built before the detector, which probes over its port) and shared with the
    // fibers above that keep the answer current and read the pings.
    Layer.provide(Layer.mergeAll(PingAnswer.layer, PingsReceived.layer)),
    Layer.provideMerge(discovery),
    Layer.provideMerge(Telemetry.prometheusLayer),
    Layer.provide(Telemetry.otlpLayer)
  )
}

/** The whole service ({@link layerFromConfig}) over `settings`, already loaded. */
export const layer = (
  settings: Settings,
  resolver: Layer.Layer<DnsResolver.DnsResolver, never, PeerDiscoveryConfig.PeerDiscoveryConfig> = DnsResolver.layer,
  listeners: Listeners = {}
) =>
  layerFromConfig(resolver, listeners).pipe(
    Layer.provide(Layer.mergeAll(
      Layer.succeed(PeerDiscoveryConfig.PeerDiscoveryConfig, settings.discovery),
      PeerHealthConfig.layer(settings.health),
      AppConfig.layer(settings.app),
      TelemetryConfig.layer(settings.telemetry)
    ))
  )
