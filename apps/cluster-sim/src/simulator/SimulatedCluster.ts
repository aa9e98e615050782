/**
 * The simulator as a {@link Cluster}: its endpoints controller runs real pod processes and publishes the
 * ready ones into a cluster DNS, this package's (`ClusterDns`) or another server behind the same
 * `DnsBackend` interface (the acceptance suite's unbound).
 */
import { Effect, type Scope } from "effect"
import type { Cluster } from "../Cluster.js"
import type { DnsBackend } from "./ClusterDns.js"
import * as EndpointsController from "./EndpointsController.js"

/** The simulated cluster, with what only the simulator can do besides the {@link Cluster} operations. */
export interface SimulatedCluster<D extends DnsBackend = DnsBackend> extends Cluster {
  /** The cluster DNS the pods resolve against (for `ClusterDns`: its answer counts, its endpoints). */
  readonly dns: D
  /** Whether the pods are StatefulSet pods (`miroir-0`, published by hostname). */
  readonly statefulSet: boolean
  /** {@link EndpointsController.EndpointsController.setAllUnready}: every pod counts as unready, or ends that. */
  readonly setAllUnready: (on: boolean) => Effect.Effect<void, Error>
}

/**
 * Starts the simulated cluster's controller on `dns` (described as `simulator (127.0.0.1:40123)` or
 * `unbound (…)`); closing the scope stops its pods.
 */
export const make = <D extends DnsBackend>(
  dns: D,
  options: EndpointsController.Options
): Effect.Effect<SimulatedCluster<D>, Error, Scope.Scope> =>
  Effect.map(EndpointsController.make(dns, options), (controller) => ({
    ...controller,
    description: `${dns.name} (${dns.server})`,
    replacesDeparted: false,
    dns,
    statefulSet: options.statefulSet,
    setDnsOutage: (on) => Effect.sync(() => dns.setOutage(on))
  }))
