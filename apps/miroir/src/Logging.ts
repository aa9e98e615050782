/** The logger of the pod service: JSON lines (default) or pretty, at the configured level. */
import { Effect, Layer, Logger, References } from "effect"
import { AppConfig } from "./AppConfig.js"

/** Replaces the default logger and sets the minimum level, as the pod's settings say. */
export const layer: Layer.Layer<never, never, AppConfig> = Layer.unwrap(
  Effect.map(AppConfig, (settings) =>
    Layer.merge(
      Logger.layer([settings.logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, settings.logLevel)
    ))
)
