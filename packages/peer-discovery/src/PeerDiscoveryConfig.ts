/**
 * The configuration of peer discovery: who this pod is (the Downward API) and where its peers are
 * published (the headless Service), read from the environment with effect's `Config` and validated
 * before anything starts.
 */
import { readFile } from "node:fs/promises"
import { hostname } from "node:os"
import { Config, ConfigProvider, Context, Duration, Effect, Layer, Option, Result } from "effect"
import type { ConfigError } from "./ConfigError.js"
import * as ConfigVariable from "./ConfigVariable.js"
import * as Parse from "./internal/parse.js"
import { clusterDomainFromResolvConf } from "./internal/resolvConf.js"

/** How peers are published: SRV records of a named port, or A/AAAA records of the Service name. */
export type RecordMode = "srv" | "a"

/** The protocol of the Service port, the `_<proto>` label of the SRV name. */
export type PortProtocol = "tcp" | "udp" | "sctp"

/** Validated settings of peer discovery. */
export interface Settings {
  /** This pod's name (`POD_NAME`, from metadata.name). */
  readonly podName: string
  /** This pod's namespace (`POD_NAMESPACE`, from metadata.namespace). */
  readonly podNamespace: string
  /** This pod's IP in canonical form (`POD_IP`, from status.podIP), when known. */
  readonly podIp: Option.Option<string>
  /** The headless Service whose records list the peers. */
  readonly service: string
  /** The named Service port whose SRV records are looked up. */
  readonly portName: string
  /** The protocol of that port. */
  readonly protocol: PortProtocol
  /** SRV (default) or A/AAAA lookups. */
  readonly record: RecordMode
  /** Time between lookups (jittered by ±20%), from 10 ms to 1 h ({@link REFRESH_INTERVAL_RANGE}). */
  readonly refreshInterval: Duration.Duration
  /**
   * Upper bound of one whole lookup, over every server: at least 5 ms ({@link LOOKUP_TIMEOUT_MIN}), below
   * the refresh interval; when unset, {@link defaultLookupTimeout} of the interval. PeerDiscovery keeps it
   * for any resolver; `DnsResolver.layer` shares it among its servers.
   */
  readonly lookupTimeout: Duration.Duration
  /** The cluster domain, without trailing dot (`cluster.local`). */
  readonly clusterDomain: string
  /** DNS servers in node:dns form; empty means the system resolver's. */
  readonly dnsServers: ReadonlyArray<string>
}

/** The configuration as a service. */
export class PeerDiscoveryConfig extends Context.Service<PeerDiscoveryConfig, Settings>()(
  "@miroir/peer-discovery/PeerDiscoveryConfig"
) {}

/** The environment variables, by setting. */
export const Variables = {
  podName: "POD_NAME",
  podNamespace: "POD_NAMESPACE",
  podIp: "POD_IP",
  service: "MIROIR_PEER_DISCOVERY_SERVICE",
  portName: "MIROIR_PEER_DISCOVERY_PORT_NAME",
  protocol: "MIROIR_PEER_DISCOVERY_PROTOCOL",
  record: "MIROIR_PEER_DISCOVERY_RECORD",
  refreshInterval: "MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL",
  lookupTimeout: "MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT",
  clusterDomain: "MIROIR_CLUSTER_DOMAIN",
  dnsServers: "MIROIR_DNS_SERVERS"
} as const satisfies Record<keyof Settings, string>

/**
 * Defaults of the optional settings, as they would be written in the environment. The lookup timeout's
 * follows the interval: {@link defaultLookupTimeout}.
 */
export const Defaults = {
  podNamespace: "default",
  service: "miroir-headless",
  portName: "http",
  protocol: "tcp",
  record: "srv",
  refreshInterval: "15s",
  clusterDomain: "cluster.local"
} as const

/** The longest default lookup timeout: {@link defaultLookupTimeout} at intervals of 6 s and more. */
export const LOOKUP_TIMEOUT_DEFAULT_MAX = Duration.seconds(3)

/**
 * The lookup timeout when `MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT` is unset: half the refresh interval, at
 * most {@link LOOKUP_TIMEOUT_DEFAULT_MAX} (3 s at the default 15 s). It follows the interval so that any
 * interval the range allows starts with the timeout left unset (a fixed 3 s refused every interval up to
 * 3 s), and half leaves a tick room for the backoff's retries after a lookup that timed out.
 */
export const defaultLookupTimeout = (interval: Duration.Duration): Duration.Duration =>
  Duration.min(Duration.times(interval, 0.5), LOOKUP_TIMEOUT_DEFAULT_MAX)

/**
 * The range of the refresh interval. Below 10 ms lookups would follow each other back to back and burn a
 * core (benchmarks use 10 ms; production wants seconds); above an hour a pod would miss every change.
 */
export const REFRESH_INTERVAL_RANGE = { min: Duration.millis(10), max: Duration.hours(1) } as const

/** The shortest lookup timeout: below it even a loopback answer may not make it. The longest is below the interval. */
export const LOOKUP_TIMEOUT_MIN = Duration.millis(5)

/**
 * Raw settings as strings, before validation (for {@link make}). Absent optional values take their
 * defaults; `podName` defaults to the host name, which Kubernetes sets to the pod name.
 */
export type Input = { readonly [K in keyof Settings]?: string | undefined }

/** Empty or blank counts as unset for `POD_IP` and `MIROIR_DNS_SERVERS` (the Downward API may leave them empty). */
const optional = <A>(name: string, parse: ConfigVariable.Parse<A>): Config.Config<Option.Option<A>> =>
  Config.option(ConfigVariable.variable(name, parse, { trimmed: true }))

/**
 * The settings as a `Config`. `resolvConf` is the text of the pod's /etc/resolv.conf, which gives the
 * cluster domain when `MIROIR_CLUSTER_DOMAIN` is not set.
 */
export const config = (resolvConf?: string): Config.Config<Settings> =>
  Config.all({
    podNamespace: ConfigVariable.variable(Variables.podNamespace, Parse.dnsLabel, { default: Defaults.podNamespace }),
    podName: ConfigVariable.variable(Variables.podName, (name) => Parse.dnsLabel(name.toLowerCase()), {
      default: hostname()
    }),
    podIp: optional(Variables.podIp, Parse.ipAddress),
    service: ConfigVariable.variable(Variables.service, Parse.serviceName, { default: Defaults.service }),
    portName: ConfigVariable.variable(Variables.portName, Parse.portName, { default: Defaults.portName }),
    protocol: ConfigVariable.variable(Variables.protocol, ConfigVariable.oneOf(["tcp", "udp", "sctp"]), {
      default: Defaults.protocol
    }),
    record: ConfigVariable.variable(Variables.record, ConfigVariable.oneOf(["srv", "a"]), { default: Defaults.record }),
    refreshInterval: ConfigVariable.variable(
      Variables.refreshInterval,
      ConfigVariable.durationBetween(REFRESH_INTERVAL_RANGE.min, REFRESH_INTERVAL_RANGE.max),
      { default: Defaults.refreshInterval }
    ),
    lookupTimeout: optional(
      Variables.lookupTimeout,
      ConfigVariable.durationBetween(LOOKUP_TIMEOUT_MIN, REFRESH_INTERVAL_RANGE.max)
    ),
    // The texts as written (none when unset), to quote and name only what the operator set in an error.
    lookupTimeoutText: Config.option(Config.String(Variables.lookupTimeout)),
    refreshIntervalText: Config.option(Config.String(Variables.refreshInterval)),
    clusterDomain: Config.option(Config.String(Variables.clusterDomain)),
    dnsServers: optional(Variables.dnsServers, Parse.dnsServers)
  }).pipe(
    Config.mapEffect(
      ({ clusterDomain, dnsServers, lookupTimeout, lookupTimeoutText, refreshIntervalText, ...rest }) => {
        const timeout = Option.getOrElse(lookupTimeout, () => defaultLookupTimeout(rest.refreshInterval))
        if (Option.isSome(lookupTimeoutText) && Duration.isGreaterThanOrEqualTo(timeout, rest.refreshInterval)) {
          const interval = Duration.format(rest.refreshInterval)
          return Effect.fail(ConfigVariable.invalid(
            Variables.lookupTimeout,
            lookupTimeoutText.value,
            Option.isSome(refreshIntervalText)
              ? `a duration below ${Variables.refreshInterval} (${interval})`
              : `a duration below the refresh interval (${interval}, the default: ${Variables.refreshInterval} is unset)`
          ))
        }
        const settings = { ...rest, lookupTimeout: timeout }
        // The domain last: its default depends on the namespace.
        const domain = Option.getOrElse(
          clusterDomain,
          () =>
            (resolvConf === undefined ? undefined : clusterDomainFromResolvConf(resolvConf, settings.podNamespace)) ??
              Defaults.clusterDomain
        )
        return Result.match(Parse.domainName(domain), {
          onFailure: (expected) => Effect.fail(ConfigVariable.invalid(Variables.clusterDomain, domain, expected)),
          onSuccess: (clusterDomain) =>
            Effect.succeed({
              ...settings,
              clusterDomain,
              dnsServers: Option.getOrElse(dnsServers, (): ReadonlyArray<string> => [])
            })
        })
      }
    )
  )

/**
 * Validates raw settings (as if they were the environment). `resolvConf` is the text of the pod's
 * /etc/resolv.conf, which gives the cluster domain when `MIROIR_CLUSTER_DOMAIN` is not set.
 */
export const make = (raw: Input, resolvConf?: string): Effect.Effect<Settings, ConfigError> =>
  ConfigVariable.load(config(resolvConf)).pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      // Empty values kept: a set but empty value is refused like any other, unless the variable's blank is unset.
      ConfigProvider.fromUnknown(
        Object.fromEntries(
          Object.entries(raw).flatMap(([key, value]) =>
            value === undefined ? [] : [[Variables[key as keyof Settings], value]]
          )
        ),
        { preserveEmptyStrings: true }
      )
    )
  )

/** Where the kubelet writes the pod's resolver configuration. */
export const RESOLV_CONF_PATH = "/etc/resolv.conf"

const readResolvConf = Effect.tryPromise(() => readFile(RESOLV_CONF_PATH, "utf8")).pipe(
  Effect.option,
  Effect.map(Option.getOrUndefined)
)

/**
 * Reads and validates the settings from the current `ConfigProvider` (by default the environment)
 * and, when `MIROIR_CLUSTER_DOMAIN` is not set, /etc/resolv.conf. Tests swap the provider
 * (`ConfigProvider.fromUnknown`) instead of `process.env`.
 */
export const load: Effect.Effect<Settings, ConfigError> = Effect.gen(function*() {
  const domainSet = Option.isSome(
    yield* Config.option(Config.String(Variables.clusterDomain)).pipe(Effect.orElseSucceed(() => Option.none()))
  )
  return yield* ConfigVariable.load(config(domainSet ? undefined : yield* readResolvConf))
})

/** The configuration read from the environment; fails the layer with a {@link ConfigError}. */
export const layer: Layer.Layer<PeerDiscoveryConfig, ConfigError> = Layer.effect(PeerDiscoveryConfig, load)

/** Fixed settings for tests: `overrides` on top of a pod `pod-a` at 10.0.0.1 in namespace `default`. */
export const layerTest = (overrides: Partial<Settings> = {}): Layer.Layer<PeerDiscoveryConfig> =>
  Layer.succeed(PeerDiscoveryConfig, { ...testSettings, ...overrides })

/** The settings {@link layerTest} starts from. */
export const testSettings: Settings = {
  podName: "pod-a",
  podNamespace: "default",
  podIp: Option.some("10.0.0.1"),
  service: Defaults.service,
  portName: Defaults.portName,
  protocol: Defaults.protocol,
  record: Defaults.record,
  refreshInterval: Duration.seconds(15),
  lookupTimeout: defaultLookupTimeout(Duration.seconds(15)),
  clusterDomain: Defaults.clusterDomain,
  dnsServers: []
}
