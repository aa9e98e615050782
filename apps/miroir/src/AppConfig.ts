/**
 * The settings of the pod service beyond peer discovery: where it listens, shards, logging. Every part of
 * the service reads them one way, from the context (the {@link AppConfig} Tag), as @effect/cluster's
 * services read its ShardingConfig: {@link layer} gives settings already loaded, {@link layerFromEnv} reads them.
 */
import { isIP } from "node:net"
import { type ConfigError, ConfigVariable } from "@miroir/peer-discovery"
import { MAX_POD_SHARDS } from "@miroir/pod-api/Shards"
import { Config, Context, type Effect, Layer, type LogLevel, type Option, Result } from "effect"
import { type Check, checkHost, checkPort, DEFAULT_ADMIN_HOST, DEFAULT_ADMIN_PORT } from "./internal/adminListener.js"
import { type AuditInterval, parseAuditInterval } from "./internal/auditInterval.js"

/** Validated settings of the pod service. */
export interface Settings {
  /** Address the HTTP API and /metrics listen on (`MIROIR_HTTP_HOST`, default `0.0.0.0`). */
  readonly httpHost: string
  /** Port of the HTTP API (`MIROIR_HTTP_PORT`, default 7700). */
  readonly httpPort: number
  /** Port of Prometheus /metrics, on the same host (`MIROIR_METRICS_PORT`, default 9090). */
  readonly metricsPort: number
  /**
   * Port of a listener of its own for the kubelet's probes, on the same host (`MIROIR_PROBE_PORT`; unset
   * by default: the probes are answered on the HTTP API's port only). The chart sets it (7702) and probes
   * it, so that no flood of the API's port delays the probes (HttpApi/ProbeServer.ts says why).
   */
  readonly probePort: Option.Option<number>
  /**
   * Shards the shard worker partitions (`MIROIR_SHARDS`, default 64), from 1 to the pod API's bound
   * (`MAX_POD_SHARDS` of `@miroir/pod-api`): the default of `/ownership?shards=`, which takes the same range.
   */
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
  /**
   * Where the admin listener listens (`MIROIR_ADMIN_HOST`, default `127.0.0.1`): a loopback address, so that
   * only the pod itself (its preStop exec, `miroir leave`) can reach it (AdminApi/).
   */
  readonly adminHost: string
  /** Port of the admin listener (`MIROIR_ADMIN_PORT`, default 7701). */
  readonly adminPort: number
}

/** The settings as a service. */
export class AppConfig extends Context.Service<AppConfig, Settings>()("@miroir/miroir/AppConfig") {}

const LOG_LEVELS = {
  all: "All",
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
} as const satisfies Record<string, LogLevel.LogLevel>

const host: ConfigVariable.Parse<string> = (value) =>
  isIP(value) !== 0 || value === "localhost"
    ? Result.succeed(value)
    : Result.fail("an IP address to listen on, such as 0.0.0.0, 127.0.0.2 or ::")

/** A check of internal/adminListener.ts as a parser of ConfigVariable. */
const parser = <A>(check: (text: string) => Check<A>): ConfigVariable.Parse<A> => (text) => {
  const checked = check(text)
  return "value" in checked ? Result.succeed(checked.value) : Result.fail(checked.expected)
}

const logLevelWord = ConfigVariable.oneOf(Object.keys(LOG_LEVELS) as Array<keyof typeof LOG_LEVELS>)

/** A variable of the pod service: blanks around it ignored, a blank value taken as unset. */
const variable = <A>(name: string, parse: ConfigVariable.Parse<A>, fallback: A): Config.Config<A> =>
  Config.withDefault(ConfigVariable.variable(name, parse, { trimmed: true }), fallback)

/** The admin listener's settings (`miroir leave` reads the same variables with the same checks). */
const adminConfig: Config.Config<Pick<Settings, "adminHost" | "adminPort">> = Config.all({
  adminHost: variable("MIROIR_ADMIN_HOST", parser(checkHost), DEFAULT_ADMIN_HOST),
  adminPort: variable("MIROIR_ADMIN_PORT", parser(checkPort), DEFAULT_ADMIN_PORT)
})

/** The settings but the admin listener's. */
const serviceConfig: Config.Config<Omit<Settings, "adminHost" | "adminPort">> = Config.all({
  httpHost: variable("MIROIR_HTTP_HOST", host, "0.0.0.0"),
  // Not 0: the pod would listen on a random port while it asks its peers (and they ask it) on this number.
  httpPort: variable("MIROIR_HTTP_PORT", ConfigVariable.integer(1, ConfigVariable.MAX_PORT), 7700),
  // Not 0: the Prometheus exporter would take its own default port (9464) instead of any free one.
  metricsPort: variable("MIROIR_METRICS_PORT", ConfigVariable.integer(1, ConfigVariable.MAX_PORT), 9090),
  probePort: Config.option(
    ConfigVariable.variable("MIROIR_PROBE_PORT", ConfigVariable.integer(1, ConfigVariable.MAX_PORT), { trimmed: true })
  ),
  shards: variable("MIROIR_SHARDS", ConfigVariable.integer(1, MAX_POD_SHARDS), 64),
  logLevel: variable(
    "MIROIR_LOG_LEVEL",
    (text) => Result.map(logLevelWord(text), (word): LogLevel.LogLevel => LOG_LEVELS[word]),
    "Info"
  ),
  logFormat: variable("MIROIR_LOG_FORMAT", ConfigVariable.oneOf(["json", "pretty"]), "json"),
  ownershipAuditInterval: variable("MIROIR_OWNERSHIP_AUDIT_INTERVAL", parseAuditInterval, "auto"),
  peerHints: variable("MIROIR_PEER_HINTS", ConfigVariable.oneOf(["on", "off"]), "on")
})

/** The settings as a `Config`. */
export const config: Config.Config<Settings> = Config.all([serviceConfig, adminConfig]).pipe(
  Config.map(([settings, admin]) => ({ ...settings, ...admin }))
)

/** Reads and validates the settings from the current ConfigProvider (the environment by default). */
export const load: Effect.Effect<Settings, ConfigError.ConfigError> = ConfigVariable.load(config)

/**
 * The settings as the service every part of the pod service reads them from (the pod loads them with
 * {@link load} before anything starts, together with the other configurations; tests give their own).
 */
export const layer = (settings: Settings): Layer.Layer<AppConfig> => Layer.succeed(AppConfig, settings)

/** The settings read from the environment (the current ConfigProvider) as the service; a bad value fails it. */
export const layerFromEnv: Layer.Layer<AppConfig, ConfigError.ConfigError> = Layer.effect(AppConfig, load)
