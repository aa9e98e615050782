/** Settings of a pod service for in-process tests: loopback, port 0 (any free port), quiet telemetry. */
import { PeerDiscoveryConfig, PeerHealthConfig } from "@miroir/peer-discovery"
import { Duration, Option } from "effect"
import type * as App from "../../src/App.js"

/**
 * A pod at `ip` (its dashed IP is its id) with `shards` shards, serving /metrics on `metricsPort` and its
 * admin listener on 127.0.0.1:`adminPort` (0, any free port, for tests that do not call it).
 */
export const podSettings = (ip: string, metricsPort: number, shards = 16, adminPort = 0): App.Settings => ({
  discovery: {
    ...PeerDiscoveryConfig.testSettings,
    podName: `miroir-${ip.replaceAll(".", "-")}`,
    podIp: Option.some(ip),
    refreshInterval: Duration.seconds(15),
    lookupTimeout: Duration.seconds(1)
  },
  // Off: these pods' peers are often names no pod answers for; the failure detector's tests turn it on.
  health: { ...PeerHealthConfig.defaults, probeInterval: Option.none() },
  app: {
    httpHost: "127.0.0.1",
    httpPort: 0,
    metricsPort,
    probePort: Option.none(),
    shards,
    logLevel: "Warn",
    logFormat: "json",
    ownershipAuditInterval: "off",
    peerHints: "on",
    adminHost: "127.0.0.1",
    adminPort
  },
  telemetry: {
    disabled: false,
    serviceName: "miroir",
    resourceAttributes: {},
    metricsEndpoint: Option.none(),
    tracesEndpoint: Option.none(),
    protocol: "http/protobuf",
    headers: {},
    metricExportInterval: Duration.seconds(60),
    spanExportInterval: Duration.seconds(5)
  }
})
