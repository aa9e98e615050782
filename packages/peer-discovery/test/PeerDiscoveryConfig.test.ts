import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Result } from "effect"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerHealthConfig from "../src/PeerHealthConfig.js"

/** The environment `env`, empty values kept as set (effect's providers count them as unset unless told). */
const loadFrom = (env: Record<string, string>) =>
  PeerDiscoveryConfig.load.pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromUnknown(env, { preserveEmptyStrings: true })
    ),
    Effect.result
  )

const failureOf = (env: Record<string, string>) =>
  Effect.map(loadFrom({ POD_NAME: "miroir-abc", MIROIR_CLUSTER_DOMAIN: "cluster.local", ...env }), (result) => {
    if (Result.isSuccess(result)) {
      throw new Error(`expected a configuration error, got ${JSON.stringify(result.success)}`)
    }
    return result.failure
  })

describe("PeerDiscoveryConfig", () => {
  it.effect("applies the documented defaults", () =>
    Effect.gen(function*() {
      const settings = yield* PeerDiscoveryConfig.make({ podName: "miroir-7d9f8c6b5-x2x4q" })
      expect(settings).toMatchObject({
        podName: "miroir-7d9f8c6b5-x2x4q",
        podNamespace: "default",
        service: "miroir-headless",
        portName: "http",
        protocol: "tcp",
        record: "srv",
        clusterDomain: "cluster.local",
        dnsServers: []
      })
      expect(Option.isNone(settings.podIp)).toBe(true)
      expect(Duration.toMillis(settings.refreshInterval)).toBe(15_000)
      expect(Duration.toMillis(settings.lookupTimeout)).toBe(3_000)
    }))

  it.effect("reads every variable through the ConfigProvider", () =>
    Effect.gen(function*() {
      const result = yield* loadFrom({
        POD_NAME: "Miroir-0",
        POD_NAMESPACE: "search",
        POD_IP: "FD00:0:0::1",
        MIROIR_PEER_DISCOVERY_SERVICE: "miroir-peers",
        MIROIR_PEER_DISCOVERY_PORT_NAME: "grpc",
        MIROIR_PEER_DISCOVERY_PROTOCOL: "UDP",
        MIROIR_PEER_DISCOVERY_RECORD: "a",
        MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "1m",
        MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "250ms",
        MIROIR_CLUSTER_DOMAIN: "Corp.Example.",
        MIROIR_DNS_SERVERS: "127.0.0.1:5353, [::1]:53,10.96.0.10"
      })
      const settings = Result.getOrThrow(result)
      expect(settings).toMatchObject({
        podName: "miroir-0",
        podNamespace: "search",
        podIp: Option.some("fd00::1"),
        service: "miroir-peers",
        portName: "grpc",
        protocol: "udp",
        record: "a",
        clusterDomain: "corp.example",
        dnsServers: ["127.0.0.1:5353", "[::1]:53", "10.96.0.10"]
      })
      expect(Duration.toMillis(settings.refreshInterval)).toBe(60_000)
      expect(Duration.toMillis(settings.lookupTimeout)).toBe(250)
    }))

  it.effect("accepts effect's duration syntax", () =>
    Effect.gen(function*() {
      const settings = yield* PeerDiscoveryConfig.make({
        podName: "p",
        refreshInterval: "15 seconds",
        lookupTimeout: "1500 millis"
      })
      expect(Duration.toMillis(settings.refreshInterval)).toBe(15_000)
      expect(Duration.toMillis(settings.lookupTimeout)).toBe(1_500)
    }))

  it.effect("takes the cluster domain from the search line of resolv.conf", () =>
    Effect.gen(function*() {
      const resolvConf = [
        "nameserver 10.96.0.10",
        "search search.svc.k8s.example.org svc.k8s.example.org k8s.example.org",
        "options ndots:5"
      ].join("\n")
      const settings = yield* PeerDiscoveryConfig.make({ podName: "p", podNamespace: "search" }, resolvConf)
      expect(settings.clusterDomain).toBe("k8s.example.org")
      const outside = yield* PeerDiscoveryConfig.make({ podName: "p" }, "nameserver 1.1.1.1\nsearch lan\n")
      expect(outside.clusterDomain).toBe("cluster.local")
      const explicit = yield* PeerDiscoveryConfig.make({ podName: "p", clusterDomain: "x.local" }, resolvConf)
      expect(explicit.clusterDomain).toBe("x.local")
    }))

  const badValues: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "soon", /a duration from 10ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "0s", /a duration from 10ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "-5 seconds", /a duration from 10ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "1ms", /a duration from 10ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "61m", /a duration from 10ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "600h", /a duration from 10ms to 1h/],
    [
      "MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT",
      "15s",
      /^a duration below the refresh interval \(15s, the default: MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL is unset\)$/
    ],
    ["MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT", "597h", /a duration from 5ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT", "1ms", /a duration from 5ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT", "20", /a duration from 5ms to 1h/],
    ["MIROIR_PEER_DISCOVERY_SERVICE", "", /Service name/],
    ["MIROIR_PEER_DISCOVERY_SERVICE", "Miroir_Headless", /Service name/],
    ["POD_IP", "10.0.0.300", /IPv4 or IPv6 address/],
    ["POD_NAMESPACE", "-bad-", /DNS label/],
    ["MIROIR_PEER_DISCOVERY_RECORD", "txt", /one of "srv", "a"/],
    ["MIROIR_PEER_DISCOVERY_PROTOCOL", "http", /one of "tcp", "udp", "sctp"/],
    ["MIROIR_DNS_SERVERS", "dns.example.com:53", /entry "dns.example.com:53"/],
    ["MIROIR_DNS_SERVERS", "127.0.0.1:99999", /entry "127.0.0.1:99999"/],
    ["MIROIR_DNS_SERVERS", "[10.0.0.1]:53", /entry "\[10.0.0.1\]:53"/],
    ["MIROIR_CLUSTER_DOMAIN", "bad domain", /DNS domain/]
  ]
  for (const [variable, value, expected] of badValues) {
    it.effect(`rejects ${variable}=${JSON.stringify(value)}, naming the variable and the value`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf({ [variable]: value })
        expect(error._tag).toBe("ConfigError")
        expect(error.variable).toBe(variable)
        expect(error.value).toBe(value)
        expect(error.expected).toMatch(expected)
        expect(error.message).toContain(`${variable}=${JSON.stringify(value)}`)
      }))
  }

  it.effect("accepts the ends of the duration ranges: interval 10ms to 1h, timeout from 5ms", () =>
    Effect.gen(function*() {
      const shortest = yield* PeerDiscoveryConfig.make({ podName: "p", refreshInterval: "10ms", lookupTimeout: "5ms" })
      expect(Duration.toMillis(shortest.refreshInterval)).toBe(10)
      expect(Duration.toMillis(shortest.lookupTimeout)).toBe(5)
      const longest = yield* PeerDiscoveryConfig.make({ podName: "p", refreshInterval: "1h", lookupTimeout: "59m" })
      expect(Duration.toMillis(longest.refreshInterval)).toBe(3_600_000)
    }))

  it.effect("derives the lookup timeout from the interval when unset: half of it, at most 3s", () =>
    Effect.gen(function*() {
      const timeoutAt = (refreshInterval: string) =>
        Effect.map(
          PeerDiscoveryConfig.make({ podName: "p", refreshInterval }),
          (settings) => Duration.toMillis(settings.lookupTimeout)
        )
      // Any interval the range allows starts with the timeout left unset (a fixed 3s refused 2s and below).
      expect(yield* timeoutAt("10ms")).toBe(5)
      expect(yield* timeoutAt("2s")).toBe(1_000)
      expect(yield* timeoutAt("3s")).toBe(1_500)
      expect(yield* timeoutAt("6s")).toBe(3_000)
      expect(yield* timeoutAt("1h")).toBe(3_000)
      // Blank is unset, as the Downward API and Helm may leave it.
      expect(Duration.toMillis(
        (yield* loadFrom({
          POD_NAME: "p",
          MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "2s",
          MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: " "
        }).pipe(Effect.map(Result.getOrThrow))).lookupTimeout
      )).toBe(1_000)
    }))

  it.effect("names only the variables the operator set when the timeout is not below the interval", () =>
    Effect.gen(function*() {
      const both = yield* failureOf({
        MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "2s",
        MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "3s"
      })
      expect(both.message).toBe(
        "invalid configuration: MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT=\"3s\": expected a duration below MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL (2s)"
      )
      const timeoutOnly = yield* failureOf({ MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "20s" })
      expect(timeoutOnly.variable).toBe("MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT")
      expect(timeoutOnly.expected).toContain("(15s, the default: MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL is unset)")
    }))

  it.effect("treats an empty POD_IP as unknown, not as an error", () =>
    Effect.gen(function*() {
      const settings = yield* PeerDiscoveryConfig.make({ podName: "p", podIp: "" })
      expect(Option.isNone(settings.podIp)).toBe(true)
    }))
})

describe("PeerHealthConfig", () => {
  const load = (env: Record<string, string>) =>
    PeerHealthConfig.load.pipe(
      Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env)),
      Effect.runSync
    )
  const refusal = (env: Record<string, string>) =>
    Effect.runSync(
      Effect.flip(
        PeerHealthConfig.load.pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromUnknown(env))
        )
      )
    ).message

  it("defaults to a probe a second, 500 ms, three indirect probes, 2 s of suspicion, fencing after 3 s", () => {
    expect(load({})).toEqual(PeerHealthConfig.defaults)
  })

  it("turns off with off", () => {
    expect(Option.isNone(load({ MIROIR_PEER_PROBE_INTERVAL: "off" }).probeInterval)).toBe(true)
  })

  it("names the variable and what it expected", () => {
    expect(refusal({ MIROIR_PEER_PROBE_INTERVAL: "often" })).toMatch(/MIROIR_PEER_PROBE_INTERVAL.*off, or a duration/)
    expect(refusal({ MIROIR_PEER_INDIRECT_PROBES: "99" })).toMatch(/MIROIR_PEER_INDIRECT_PROBES.*from 0 to 16/)
    expect(refusal({ MIROIR_PEER_PROBE_TIMEOUT: "2s" })).toMatch(
      /MIROIR_PEER_PROBE_TIMEOUT.*below MIROIR_PEER_PROBE_INTERVAL/
    )
    expect(refusal({ MIROIR_SELF_FENCE_AFTER: "500ms" })).toMatch(
      /MIROIR_SELF_FENCE_AFTER.*at least MIROIR_PEER_PROBE_INTERVAL/
    )
    expect(refusal({ MIROIR_PEER_SUSPICION_TIMEOUT: "100ms" })).toMatch(/MIROIR_PEER_SUSPICION_TIMEOUT.*at least/)
  })
})
