/** The settings of the pod service beyond peer discovery: where it listens, shards, logging. */
import { isIP } from "node:net"
import type { ConfigError } from "@miroir/peer-discovery"
import { Context, Effect, Either, Layer, LogLevel } from "effect"
import { type AuditInterval, parseAuditInterval } from "./internal/auditInterval.js"
import { integer, oneOf, variable } from "./internal/env.js"

/** Validated settings of the pod service. */
export interface Settings {
  /** Address the HTTP API and /metrics listen on (`MIROIR_HTTP_HOST`, default `0.0.0.0`). */
  readonly httpHost: string
  /** Port of the HTTP API (`MIROIR_HTTP_PORT`, default 7700). */
  readonly httpPort: number
  /** Port of Prometheus /metrics, on the same host (`MIROIR_METRICS_PORT`, default 9090). */
  readonly metricsPort: number
  /** Shards the Mode A worker partitions (`MIROIR_SHARDS`, default 64). */
  readonly shards: number
  /** Least severe level logged (`MIROIR_LOG_LEVEL`, default `info`). */
  readonly logLevel: LogLevel.LogLevel
  /** `json` (one object a line, default) or `pretty` (`MIROIR_LOG_FORMAT`). */
  readonly logFormat: "json" | "pretty"
  /**
   * How often the ownership audit runs on the pod that is the auditor (`MIROIR_OWNERSHIP_AUDIT_INTERVAL`):
   * `auto` (default, three refresh intervals), `off`, or a duration from 250ms to 1h.
   */
  readonly ownershipAuditInterval: AuditInterval
  /**
   * Refresh hints (`MIROIR_PEER_HINTS`, `on` by default): this pod tells its peers to look up again when
   * DNS first lists it and when it stops, and follows their hints; `off` does neither.
   */
  readonly peerHints: "on" | "off"
}

/** The settings as a service. */
export class AppConfig extends Context.Tag("@miroir/miroir/AppConfig")<AppConfig, Settings>() {}

/** The largest shard count: `/ownership?shards=` accepts the same range. */
export const MAX_SHARDS = 65_536

const LOG_LEVELS = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
} as const

const host = (value: string): Either.Either<string, string> =>
  isIP(value) !== 0 || value === "localhost"
    ? Either.right(value)
    : Either.left("an IP address to listen on, such as 0.0.0.0, 127.0.0.2 or ::")

/** Reads and validates the settings from the current ConfigProvider (the environment by default). */
export const load: Effect.Effect<Settings, ConfigError.ConfigError> = Effect.gen(function*() {
  const httpHost = yield* variable("MIROIR_HTTP_HOST", "0.0.0.0", host)
  const httpPort = yield* variable("MIROIR_HTTP_PORT", 7700, integer(0, 65_535))
  // Not 0: the Prometheus exporter would take its own default port (9464) instead of any free one.
  const metricsPort = yield* variable("MIROIR_METRICS_PORT", 9090, integer(1, 65_535))
  const shards = yield* variable("MIROIR_SHARDS", 64, integer(1, MAX_SHARDS))
  const level = yield* variable("MIROIR_LOG_LEVEL", "info", oneOf(Object.keys(LOG_LEVELS) as Array<keyof typeof LOG_LEVELS>))
  const logFormat = yield* variable("MIROIR_LOG_FORMAT", "json", oneOf(["json", "pretty"]))
  const logLevel = LOG_LEVELS[level]
  const ownershipAuditInterval = yield* variable("MIROIR_OWNERSHIP_AUDIT_INTERVAL", "auto" as AuditInterval, parseAuditInterval)
  const peerHints = yield* variable("MIROIR_PEER_HINTS", "on" as const, oneOf(["on", "off"]))
  return { httpHost, httpPort, metricsPort, shards, logLevel, logFormat, ownershipAuditInterval, peerHints }
})

/** The settings read from the environment. */
export const layer: Layer.Layer<AppConfig, ConfigError.ConfigError> = Layer.effect(AppConfig, load)
