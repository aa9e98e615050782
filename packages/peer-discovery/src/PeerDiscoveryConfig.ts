/**
 * The configuration of peer discovery: who this pod is (the Downward API) and where its peers are
 * published (the headless Service), read from the environment with effect's `Config` and validated
 * before anything starts.
 */
import { readFile } from "node:fs/promises"
import { hostname } from "node:os"
import { Config, Context, Duration, Effect, Either, Layer, Option } from "effect"
import { ConfigError } from "./ConfigError.js"
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
   * the refresh interval. PeerDiscovery keeps it for any resolver; `DnsResolver.layer` shares it among its servers.
   */
  readonly lookupTimeout: Duration.Duration
  /** The cluster domain, without trailing dot (`cluster.local`). */
  readonly clusterDomain: string
  /** DNS servers in node:dns form; empty means the system resolver's. */
  readonly dnsServers: ReadonlyArray<string>
}

/** The configuration as a service. */
export class PeerDiscoveryConfig extends Context.Tag("@miroir/peer-discovery/PeerDiscoveryConfig")<
  PeerDiscoveryConfig,
  Settings
>() {}

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

/** Defaults of the optional settings, as they would be written in the environment. */
export const Defaults = {
  podNamespace: "default",
  service: "miroir-headless",
  portName: "http",
  protocol: "tcp",
  record: "srv",
  refreshInterval: "15s",
  lookupTimeout: "3s",
  clusterDomain: "cluster.local"
} as const

/**
 * The range of the refresh interval. Below 10 ms lookups would follow each other back to back and burn a
 * core (benchmarks use 10 ms; production wants seconds); above an hour a pod would miss every change.
 */
export const REFRESH_INTERVAL_RANGE = { min: Duration.millis(10), max: Duration.hours(1) } as const

/** The shortest lookup timeout: below it even a loopback answer may not make it. The longest is below the interval. */
export const LOOKUP_TIMEOUT_MIN = Duration.millis(5)

/**
 * Raw settings as strings, before validation. Absent optional values take their defaults in
 * {@link make}; `podName` defaults to the host name, which Kubernetes sets to the pod name.
 */
export type Input = { readonly [K in keyof Settings]?: string | undefined }

/** Reads the raw settings from the current `ConfigProvider` (the environment, unless replaced). */
export const input: Config.Config<Input> = Config.all(
  Object.fromEntries(
    Object.entries(Variables).map(([key, variable]) => [
      key,
      Config.string(variable).pipe(Config.option, Config.map(Option.getOrUndefined))
    ])
  ) as { readonly [K in keyof Settings]: Config.Config<string | undefined> }
)

/**
 * Validates raw settings. `resolvConf` is the text of the pod's /etc/resolv.conf, which gives the
 * cluster domain when `MIROIR_CLUSTER_DOMAIN` is not set.
 */
export const make = (raw: Input, resolvConf?: string): Effect.Effect<Settings, ConfigError> =>
  Effect.gen(function*() {
    const field = <A>(key: keyof Settings, fallback: string | undefined, parse: (value: string) => Parse.Parsed<A>) => {
      const value = raw[key] ?? fallback ?? ""
      return Either.match(parse(value), {
        onLeft: (expected) => Effect.fail(new ConfigError({ variable: Variables[key], value, expected })),
        onRight: Effect.succeed
      })
    }
    const podNamespace = yield* field("podNamespace", Defaults.podNamespace, Parse.dnsLabel)
    const podName = yield* field("podName", hostname(), (name) => Parse.dnsLabel(name.toLowerCase()))
    const podIp = nonEmpty(raw.podIp) === undefined
      ? Option.none()
      : Option.some(yield* field("podIp", undefined, Parse.ipAddress))
    const service = yield* field("service", Defaults.service, Parse.serviceName)
    const portName = yield* field("portName", Defaults.portName, Parse.portName)
    const protocol = yield* field("protocol", Defaults.protocol, Parse.oneOf(["tcp", "udp", "sctp"]))
    const record = yield* field("record", Defaults.record, Parse.oneOf(["srv", "a"]))
    const refreshInterval = yield* field(
      "refreshInterval",
      Defaults.refreshInterval,
      Parse.durationBetween(REFRESH_INTERVAL_RANGE.min, REFRESH_INTERVAL_RANGE.max)
    )
    const lookupTimeout = yield* field(
      "lookupTimeout",
      Defaults.lookupTimeout,
      Parse.durationBetween(LOOKUP_TIMEOUT_MIN, REFRESH_INTERVAL_RANGE.max)
    )
    if (Duration.greaterThanOrEqualTo(lookupTimeout, refreshInterval)) {
      return yield* new ConfigError({
        variable: Variables.lookupTimeout,
        value: raw.lookupTimeout ?? Defaults.lookupTimeout,
        expected: `a duration below ${Variables.refreshInterval} (${Duration.format(refreshInterval)})`
      })
    }
    const domainFromResolvConf = resolvConf === undefined
      ? undefined
      : clusterDomainFromResolvConf(resolvConf, podNamespace)
    const clusterDomain = yield* field(
      "clusterDomain",
      domainFromResolvConf ?? Defaults.clusterDomain,
      Parse.domainName
    )
    const dnsServers = nonEmpty(raw.dnsServers) === undefined ? [] : yield* field("dnsServers", undefined, Parse.dnsServers)
    return {
      podName: podName.toLowerCase(),
      podNamespace,
      podIp,
      service,
      portName,
      protocol,
      record,
      refreshInterval,
      lookupTimeout,
      clusterDomain,
      dnsServers
    }
  })

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === "" ? undefined : value

/** Where the kubelet writes the pod's resolver configuration. */
export const RESOLV_CONF_PATH = "/etc/resolv.conf"

const readResolvConf = Effect.tryPromise(() => readFile(RESOLV_CONF_PATH, "utf8")).pipe(
  Effect.option,
  Effect.map(Option.getOrUndefined)
)

/**
 * Reads and validates the settings from the current `ConfigProvider` (by default the environment)
 * and /etc/resolv.conf. Tests swap the provider (`ConfigProvider.fromMap`) instead of `process.env`.
 */
export const load: Effect.Effect<Settings, ConfigError> = Effect.gen(function*() {
  const raw = yield* input.pipe(
    Effect.mapError((error) =>
      new ConfigError({ variable: "(environment)", value: "", expected: String(error) })
    )
  )
  const resolvConf = raw.clusterDomain === undefined ? yield* readResolvConf : undefined
  return yield* make(raw, resolvConf)
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
  lookupTimeout: Duration.seconds(3),
  clusterDomain: Defaults.clusterDomain,
  dnsServers: []
}
