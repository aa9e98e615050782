/**
 * CoreDNS, the real one (built from github.com/coredns/coredns), as the cluster DNS of the pods: the
 * Corefile kubeadm installs, reading the API server through the admin kubeconfig, on a loopback port.
 * It can be stopped and started again on the same port, which is how the harness makes a DNS outage.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "@miroir/test-support/processes"
import { Duration, Effect, Option, Scope, SynchronizedRef } from "effect"
import * as Components from "./Components.js"
import { type Daemon, daemon, stopDaemon } from "./internal/daemon.js"

/** The TTLs of the Corefile: kubeadm's are 30 s for both. */
export interface Ttls {
  /** The `kubernetes` plugin's `ttl`: the TTL of its answers, in seconds. */
  readonly ttl: number
  /** The `cache` plugin's largest TTL, in seconds (also its smallest, so that short TTLs stay short). */
  readonly cache: number
}

/** kubeadm's default TTLs. */
const KUBEADM_TTLS: Ttls = { ttl: 30, cache: 30 }

/**
 * kubeadm's default Corefile on loopback ports, less `forward . /etc/resolv.conf` (nothing outside
 * loopback may be asked here) and so less `loop` (which only detects forwarding loops) and `reload`
 * (the file never changes).
 */
const corefile = (
  ports: { readonly dns: number; readonly health: number; readonly ready: number; readonly metrics: number },
  kubeconfig: string,
  ttls: Ttls,
  podAddress: string | undefined
): string =>
  [
    ...(podAddress === undefined ? [] : podServer(podAddress, kubeconfig, ttls)),
    `.:${ports.dns} {`,
    "    bind 127.0.0.1",
    "    errors",
    `    health 127.0.0.1:${ports.health}`,
    `    ready 127.0.0.1:${ports.ready}`,
    "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
    `       kubeconfig ${kubeconfig}`,
    "       pods insecure",
    "       fallthrough in-addr.arpa ip6.arpa",
    `       ttl ${ttls.ttl}`,
    "    }",
    `    prometheus 127.0.0.1:${ports.metrics}`,
    `    cache ${ttls.cache} {`,
    `       success 9984 ${ttls.cache} 0`,
    `       denial 9984 ${ttls.cache} 0`,
    "    }",
    "    loadbalance",
    "}",
    ""
  ].join("\n")

/**
 * The server block the pods of a real node ask: port 53 (a pod's resolv.conf names no port) on the node's
 * own address on its bridge (the kubelet's `clusterDNS`), with the same plugins as the loopback block but
 * the ones a process may have once (health, ready, prometheus).
 */
const podServer = (address: string, kubeconfig: string, ttls: Ttls): ReadonlyArray<string> => [
  ".:53 {",
  `    bind ${address}`,
  "    errors",
  "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
  `       kubeconfig ${kubeconfig}`,
  "       pods insecure",
  "       fallthrough in-addr.arpa ip6.arpa",
  `       ttl ${ttls.ttl}`,
  "    }",
  `    cache ${ttls.cache} {`,
  `       success 9984 ${ttls.cache} 0`,
  `       denial 9984 ${ttls.cache} 0`,
  "    }",
  "    loadbalance",
  "}",
  ""
]

/** A CoreDNS that can be stopped and started again. */
export interface CoreDns {
  /** `127.0.0.1:<port>`, for the pods' DNS servers. */
  readonly server: string
  /** `http://127.0.0.1:<port>/metrics` of its `prometheus` plugin. */
  readonly metricsUrl: string
  readonly corefile: string
  /** Stops it (SIGTERM, by its pid): queries get no answer. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and waits until it is ready (synced with the API server). */
  readonly start: Effect.Effect<void, Error>
  /** Whether it runs now. */
  readonly running: Effect.Effect<boolean>
}

/**
 * Starts CoreDNS reading the API server through `kubeconfig`; stops it when the scope closes. With
 * `podAddress` (a real node's address on its bridge, which must exist) it also serves port 53 there.
 */
export const make = (
  folder: string,
  kubeconfig: string,
  ttls: Ttls = KUBEADM_TTLS,
  options: { readonly podAddress?: string } = {}
): Effect.Effect<CoreDns, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const [dns, health, ready, metrics] = yield* Effect.promise(() =>
      Promise.all([freePort(), freePort(), freePort(), freePort()])
    )
    const text = corefile({ dns, health, ready, metrics }, kubeconfig, ttls, options.podAddress)
    const file = join(folder, "Corefile")
    writeFileSync(file, text)
    const current = yield* SynchronizedRef.make(Option.none<Daemon>())
    const scope = yield* Effect.scope

    const start = SynchronizedRef.updateEffect(current, (running) =>
      Option.isSome(running)
        ? Effect.succeed(running)
        : daemon("coredns", Components.path("coredns"), ["-conf", file], {
          logFolder: join(folder, "logs"),
          timeout: Duration.seconds(30),
          // /ready answers 200 once the kubernetes plugin has synced with the API server.
          ready: Effect.tryPromise(async () => {
            const response = await fetch(`http://127.0.0.1:${ready}/ready`)
            if (!response.ok) throw new Error(`CoreDNS /ready ${response.status}`)
          })
        }).pipe(Effect.map(Option.some), Effect.provideService(Scope.Scope, scope)))

    const stop = SynchronizedRef.updateEffect(current, (running) =>
      Option.match(running, {
        onNone: () => Effect.succeed(running),
        onSome: (d) => Effect.as(stopDaemon(d), Option.none())
      }))

    yield* start
    return {
      server: `127.0.0.1:${dns}`,
      metricsUrl: `http://127.0.0.1:${metrics}/metrics`,
      corefile: text,
      stop,
      start,
      running: Effect.map(SynchronizedRef.get(current), Option.isSome)
    }
  })
