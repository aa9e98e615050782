/**
 * The pod service as a process (`node miroir.mjs` without arguments: main.ts). Reads the configuration,
 * then runs the service until SIGTERM or SIGINT, which closes it in order — admin listener, the leave if
 * no preStop hook completed it, HTTP server, refresh fiber and worker, a last OTLP flush bounded by
 * Telemetry.SHUTDOWN_FLUSH_TIMEOUT — and exits 0. Any other end — a bad value, a port in use, an address
 * not on this host, a defect — prints one line on stderr saying why, and exits 1.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { PeerDiscovery, PeerDiscoveryConfig, PeerHealthConfig, PeerId } from "@miroir/peer-discovery"
import { writeSync } from "node:fs"
import { Cause, Duration, Effect, Exit, Layer, Option, Runtime } from "effect"
import { HttpServer } from "effect/http"
import * as App from "./App.js"
import * as AppConfig from "./AppConfig.js"
import * as Logging from "./Logging.js"
import { describeFailure } from "./internal/startupFailure.js"
import * as TelemetryConfig from "./TelemetryConfig.js"

const program = Effect.gen(function*() {
  const discovery = yield* PeerDiscoveryConfig.load
  const health = yield* PeerHealthConfig.load
  const app = yield* AppConfig.load
  const telemetry = yield* TelemetryConfig.load(discovery)
  const started = Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const peers = yield* Effect.flatMap(PeerDiscovery.PeerDiscovery, (d) => d.current)
    yield* Effect.logInfo("miroir started").pipe(
      Effect.annotateLogs({
        http: HttpServer.formatAddress(server.address),
        metrics: `${app.httpHost}:${app.metricsPort}`,
        admin: `${app.adminHost}:${app.adminPort}`,
        self: peers.self,
        peers: peers.peers.length,
        srv: PeerId.srvName(discovery),
        // The timeout may be derived from the interval: say what the pod runs with.
        refreshInterval: Duration.format(discovery.refreshInterval),
        lookupTimeout: Duration.format(discovery.lookupTimeout),
        probeInterval: Option.match(health.probeInterval, { onNone: () => "off", onSome: Duration.format }),
        suspicionTimeout: Duration.format(health.suspicionTimeout)
      })
    )
    return yield* Effect.never.pipe(Effect.onInterrupt(() => Effect.logInfo("miroir stopping")))
  })
  return yield* Effect.scoped(
    Layer.build(App.layer({ discovery, health, app, telemetry })).pipe(
      Effect.flatMap((context) => Effect.provide(started, context))
    )
  ).pipe(
    Effect.annotateLogs({ pod: PeerId.identify(discovery).fallback }),
    Effect.provide(Logging.layer.pipe(Layer.provide(AppConfig.layer(app))))
  )
}).pipe(
  // Every cause, defects included, not only typed errors: a defect used to exit 1 without a word.
  // Written synchronously: runMain exits right after, and a write to a pipe would be lost.
  Effect.tapCause((cause) => Effect.sync(() => Option.map(describeFailure(cause), (line) => writeSync(2, `${line}\n`))))
)

/**
 * How the process exits: 0 when a signal (SIGTERM, SIGINT) interrupted it, the normal stop of a pod, which
 * effect 4's default teardown would report as 130; otherwise as the default teardown says (1 on failure).
 */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

/** Runs the pod service until a signal stops it (exit 0); exits 1 with one line on stderr when it fails. */
export const main = (): void => NodeRuntime.runMain(program, { disableErrorReporting: true, teardown })
