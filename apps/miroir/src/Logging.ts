/** The logger of the pod service: JSON lines (default) or pretty, at the configured level. */
import { Layer, Logger, References } from "effect"
import type * as AppConfig from "./AppConfig.js"

/** Replaces the default logger and sets the minimum level. */
export const layer = (settings: Pick<AppConfig.Settings, "logFormat" | "logLevel">): Layer.Layer<never> =>
  Layer.merge(
    Logger.layer([settings.logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
    Layer.succeed(References.MinimumLogLevel, settings.logLevel)
  )
