/**
 * The application as a process (`npm start`, in a pod whose environment the Downward API fills in).
 * `NodeRuntime.runMain` interrupts it on SIGTERM, which closes every layer's scope: the refresh fiber and
 * the worker stop, and the exporter sends the metrics one last time.
 */
// The module itself, not the package's index, which also loads its Redis client.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Effect, Layer } from "effect"
import { App } from "./App.ts"

/** Where the metrics go: the standard OpenTelemetry variable, or a collector on this host. */
const otlpUrl = Config.String("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").pipe(
  Config.withDefault("http://localhost:4318/v1/metrics")
)

NodeRuntime.runMain(Layer.launch(Layer.unwrap(Effect.map(otlpUrl, App))))
