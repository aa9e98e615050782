/**
 * The names the test pods look up: their headless Service `miroir-headless` in namespace `default`
 * (the pods' POD_NAMESPACE) under `cluster.local`, named as discovery names them.
 */
import { PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"

/** The Service's domain, fully qualified: `miroir-headless.default.svc.cluster.local.`. */
export const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)

/** The SRV name of its `http` port: `_http._tcp.miroir-headless.default.svc.cluster.local.`. */
export const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)

/** The domain of another headless Service `service` in the same namespace. */
export const domainOf = (service: string): string =>
  PeerId.serviceDomain({ ...PeerDiscoveryConfig.testSettings, service })

/** The id of the pod at IPv4 address `ip`, its address dashed (`127.0.0.1` → `127-0-0-1`), as DNS lists it. */
export const dashed = (ip: string): string => ip.replaceAll(".", "-")
