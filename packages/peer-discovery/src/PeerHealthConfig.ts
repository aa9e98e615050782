/**
 * The settings of the failure detector ({@link PeerHealth}): how often a pod probes a peer, how long it
 * waits for an answer, how many peers confirm a failed probe, how long a suspicion lasts before the peer is
 * held down, and after how long a pod that reaches no peer holds its own work back. One Tag, read from the
 * context as @effect/cluster's ShardingConfig is: {@link layer} gives settings already loaded,
 * {@link layerFromEnv} reads them from the environment.
 *
 * The defaults follow SWIM and Lifeguard (memberlist's LAN profile probes every second with a 500 ms
 * timeout and three indirect probes), with a suspicion short enough that a dead node's shards move within
 * a few seconds, and long enough that a pod paused for two seconds is not taken for dead: the probe that
 * could hold it down is sent after it resumed (README, "The failure detector").
 */
import { Config, Context, Duration, Effect, Layer, Option, Result } from "effect"
import type { ConfigError } from "./ConfigError.js"
import * as ConfigVariable from "./ConfigVariable.js"

/** Validated settings of the failure detector. */
export interface Settings {
  /**
   * Time between two probes of this pod (`MIROIR_PEER_PROBE_INTERVAL`, default `1s`, from 100ms to 1m), each
   * of one peer, in a rotation that pings every pod once per interval (internal/probeSchedule.ts). None (`off`): no probes,
   * nobody is ever suspected, DNS alone decides who owns what.
   */
  readonly probeInterval: Option.Option<Duration.Duration>
  /** How long a probe waits for its answer (`MIROIR_PEER_PROBE_TIMEOUT`, default `500ms`, below the interval). */
  readonly probeTimeout: Duration.Duration
  /**
   * Peers asked to probe a peer that did not answer (`MIROIR_PEER_INDIRECT_PROBES`, default 3, from 0 to 16)
   * before it is suspected: a failed probe may be this pod's or the path's fault, not the peer's.
   */
  readonly indirectProbes: number
  /**
   * How long a peer must have been silent, from the first probe it did not answer (this pod's, or the one
   * of the peer that told this pod of it), before a failed probe holds it down and its shards move
   * (`MIROIR_PEER_SUSPICION_TIMEOUT`, default `2s`, from the probe timeout to 1m). Stretched while this pod
   * is itself slow (Lifeguard's local health).
   */
  readonly suspicionTimeout: Duration.Duration
  /**
   * After how long a pod whose probes reach no peer (neither the peers nor those asked to probe them
   * answer) holds its own shards back while DNS lists at least two others (`MIROIR_SELF_FENCE_AFTER`,
   * default `3s`, from the probe interval to 1m): its peers hold it down by then and took its shards over.
   */
  readonly selfFenceAfter: Duration.Duration
}

/** The settings as a service. */
export class PeerHealthConfig extends Context.Service<PeerHealthConfig, Settings>()(
  "@miroir/peer-discovery/PeerHealthConfig"
) {}

/** The environment variables, by setting. */
export const Variables = {
  probeInterval: "MIROIR_PEER_PROBE_INTERVAL",
  probeTimeout: "MIROIR_PEER_PROBE_TIMEOUT",
  indirectProbes: "MIROIR_PEER_INDIRECT_PROBES",
  suspicionTimeout: "MIROIR_PEER_SUSPICION_TIMEOUT",
  selfFenceAfter: "MIROIR_SELF_FENCE_AFTER"
} as const satisfies Record<keyof Settings, string>

/** Defaults, as they would be written in the environment. */
export const Defaults = {
  probeInterval: "1s",
  probeTimeout: "500ms",
  indirectProbes: "3",
  suspicionTimeout: "2s",
  selfFenceAfter: "3s"
} as const

/** The most peers asked to probe one peer: a round of indirect probes stays a handful of requests. */
export const MAX_INDIRECT_PROBES = 16

const PROBE_INTERVAL_RANGE = { min: Duration.millis(100), max: Duration.minutes(1) } as const

const probeInterval: ConfigVariable.Parse<Option.Option<Duration.Duration>> = (text) =>
  text === "off"
    ? Result.succeed(Option.none())
    : Result.mapError(
      Result.map(
        ConfigVariable.durationBetween(PROBE_INTERVAL_RANGE.min, PROBE_INTERVAL_RANGE.max)(text),
        Option.some
      ),
      (expected) => `off, or ${expected}`
    )

const variable = <A>(name: string, parse: ConfigVariable.Parse<A>, fallback: string): Config.Config<A> =>
  ConfigVariable.variable(name, parse, { default: fallback, trimmed: true })

/** The settings as a `Config`, with the checks between them (each timeout below what it must fit in). */
export const config: Config.Config<Settings> = Config.all({
  probeInterval: variable(Variables.probeInterval, probeInterval, Defaults.probeInterval),
  probeTimeout: variable(
    Variables.probeTimeout,
    ConfigVariable.durationBetween(Duration.millis(10), Duration.seconds(30)),
    Defaults.probeTimeout
  ),
  indirectProbes: variable(
    Variables.indirectProbes,
    ConfigVariable.integer(0, MAX_INDIRECT_PROBES),
    Defaults.indirectProbes
  ),
  suspicionTimeout: variable(
    Variables.suspicionTimeout,
    ConfigVariable.durationBetween(Duration.millis(10), Duration.minutes(1)),
    Defaults.suspicionTimeout
  ),
  selfFenceAfter: variable(
    Variables.selfFenceAfter,
    ConfigVariable.durationBetween(Duration.millis(100), Duration.minutes(1)),
    Defaults.selfFenceAfter
  )
}).pipe(Config.mapEffect((settings) => {
  const format = Duration.format
  if (Option.isSome(settings.probeInterval)) {
    const interval = settings.probeInterval.value
    if (Duration.isGreaterThanOrEqualTo(settings.probeTimeout, interval)) {
      return Effect.fail(ConfigVariable.invalid(
        Variables.probeTimeout,
        format(settings.probeTimeout),
        `a duration below ${Variables.probeInterval} (${format(interval)})`
      ))
    }
    if (Duration.isLessThan(settings.selfFenceAfter, interval)) {
      return Effect.fail(ConfigVariable.invalid(
        Variables.selfFenceAfter,
        format(settings.selfFenceAfter),
        `a duration of at least ${Variables.probeInterval} (${format(interval)})`
      ))
    }
  }
  if (Duration.isLessThan(settings.suspicionTimeout, settings.probeTimeout)) {
    return Effect.fail(ConfigVariable.invalid(
      Variables.suspicionTimeout,
      format(settings.suspicionTimeout),
      `a duration of at least ${Variables.probeTimeout} (${format(settings.probeTimeout)})`
    ))
  }
  return Effect.succeed(settings)
}))

/** Reads and validates the settings from the current ConfigProvider (the environment by default). */
export const load: Effect.Effect<Settings, ConfigError> = ConfigVariable.load(config)

/** Settings already loaded, as the service. */
export const layer = (settings: Settings): Layer.Layer<PeerHealthConfig> => Layer.succeed(PeerHealthConfig, settings)

/** The settings read from the environment as the service; a bad value fails it. */
export const layerFromEnv: Layer.Layer<PeerHealthConfig, ConfigError> = Layer.effect(PeerHealthConfig, load)

/** The default settings. */
export const defaults: Settings = {
  probeInterval: Option.some(Duration.seconds(1)),
  probeTimeout: Duration.millis(500),
  indirectProbes: 3,
  suspicionTimeout: Duration.seconds(2),
  selfFenceAfter: Duration.seconds(3)
}
