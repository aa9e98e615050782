/**
 * CoreDNS, the real one (built from github.com/coredns/coredns), as the cluster DNS: kubeadm's Corefile
 * taken from the k8s.io/kubernetes module and changed only where this machine needs it (see
 * internal/corefiles.ts), reading the API server through the admin kubeconfig, on a loopback port and, for
 * a real node's pods, on port 53 of the node's address. It can be stopped and started again on the same
 * ports, which is how the harness makes a DNS outage. Optionally NodeLocal DNSCache's configuration sits
 * between the pods and it, as on clusters that run that addon.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, Option, Scope, SynchronizedRef } from "effect"
import * as Components from "./Components.js"
import { kubeadmCorefile, kubeadmServer, nodeLocalDnsCorefileTemplate, nodeLocalServer } from "./internal/corefiles.js"
import { type Daemon, daemon, stopDaemon } from "./internal/daemon.js"

/** The cluster domain (kubeadm's default). */
export const CLUSTER_DOMAIN = "cluster.local"

/**
 * How long CoreDNS takes to stop: kubeadm's `health { lameduck 5s }` keeps it answering 5 s after
 * SIGTERM, so SIGKILL only comes well after that.
 */
const STOP_GRACE = Duration.seconds(10)

/** How the cluster DNS is set up. */
export interface Options {
  /**
   * A real node's address on its bridge (which must exist): its pods ask port 53 there (a pod's
   * resolv.conf names no port). Without it CoreDNS serves loopback only.
   */
  readonly podAddress?: string
  /**
   * NodeLocal DNSCache between the pods and CoreDNS: a second CoreDNS serving on `podAddress` the addon's
   * Corefile (`cache` 30 s for answers and 5 s for denials of the cluster domain), which asks CoreDNS over
   * TCP. Off by default, as kubeadm installs no such cache.
   */
  readonly nodeLocalCache?: boolean
}

/** Ports of one CoreDNS process's endpoints on loopback. */
const loopback = (port: number) => `127.0.0.1:${port}`

/** A CoreDNS process that can be stopped and started again with the same Corefile. */
const restartable = (name: string, file: string, logFolder: string, ready: Effect.Effect<void, Error>) =>
  Effect.gen(function*() {
    const current = yield* SynchronizedRef.make(Option.none<Daemon>())
    const scope = yield* Effect.scope
    const start = SynchronizedRef.updateEffect(current, (running) =>
      Option.isSome(running)
        ? Effect.succeed(running)
        : daemon(name, Components.path("coredns"), ["-conf", file], { logFolder, timeout: Duration.seconds(30), ready })
          .pipe(Effect.map(Option.some), Effect.provideService(Scope.Scope, scope)))
    const stop = SynchronizedRef.updateEffect(current, (running) =>
      Option.match(running, {
        onNone: () => Effect.succeed(running),
        onSome: (d) => Effect.as(stopDaemon(d, STOP_GRACE), Option.none())
      }))
    yield* start
    return { start, stop, running: Effect.map(SynchronizedRef.get(current), Option.isSome) }
  })

/** Succeeds once `url` answers 200. */
const answers200 = (url: string, what: string): Effect.Effect<void, Error> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url)
      if (!response.ok) throw new Error(`${what} ${response.status}`)
    },
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  })

/** The cluster DNS, which can be stopped and started again. */
export interface CoreDns {
  /** `127.0.0.1:<port>`: CoreDNS on loopback, for the machine's own lookups. */
  readonly server: string
  /** `http://127.0.0.1:<port>/metrics` of its `prometheus` plugin. */
  readonly metricsUrl: string
  /** The Corefile it runs. */
  readonly corefile: string
  /** NodeLocal DNSCache when {@link Options.nodeLocalCache} is on: its Corefile and its metrics. */
  readonly nodeLocalCache: Option.Option<{ readonly corefile: string; readonly metricsUrl: string }>
  /**
   * Stops CoreDNS (SIGTERM, by its pid); completes when it has exited, which kubeadm's `lameduck 5s`
   * makes about 5 s later. Queries then get no answer (NodeLocal DNSCache, when on, keeps running and
   * serves what it has cached).
   */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same ports and waits until it is ready (synced with the API server). */
  readonly start: Effect.Effect<void, Error>
  /** Whether it runs now. */
  readonly running: Effect.Effect<boolean>
}

/**
 * Starts CoreDNS with kubeadm's Corefile, reading the API server through `kubeconfig`, and NodeLocal
 * DNSCache when asked; stops them when the scope closes.
 */
export const make = (
  folder: string,
  kubeconfig: string,
  options: Options = {}
): Effect.Effect<CoreDns, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const { nodeLocalCache = false, podAddress } = options
    if (nodeLocalCache && podAddress === undefined) {
      return yield* Effect.fail(new Error("NodeLocal DNSCache needs a node: give CoreDns.make a podAddress"))
    }
    const [dns, health, ready, metrics, closed, cacheHealth, cacheMetrics] = yield* Effect.promise(() =>
      Promise.all(Array.from({ length: 7 }, () => freePort()))
    )
    // Nothing outside the machine may be asked: names outside the cluster go to a closed loopback port.
    const forwardTo = loopback(closed!)
    const kubeadm = yield* Effect.try({
      try: () => kubeadmCorefile(Components.upstreamFile("manifests.go"), CLUSTER_DOMAIN),
      catch: (error) => error as Error
    })
    const server = { kubeconfig, forwardTo, metrics: loopback(metrics!) }
    const corefile = [
      kubeadmServer(kubeadm, {
        ...server,
        port: dns!,
        bind: "127.0.0.1",
        probes: { health: loopback(health!), ready: loopback(ready!) }
      }),
      ...(podAddress === undefined || nodeLocalCache
        ? []
        : [kubeadmServer(kubeadm, { ...server, port: 53, bind: podAddress })])
    ].join("")
    const logFolder = join(folder, "logs")
    mkdirSync(logFolder, { recursive: true })
    const file = join(folder, "Corefile")
    writeFileSync(file, corefile)
    // /ready answers 200 once the kubernetes plugin has synced with the API server.
    const coreDns = yield* restartable(
      "coredns",
      file,
      logFolder,
      answers200(`http://${loopback(ready!)}/ready`, "CoreDNS /ready")
    )

    let cache: CoreDns["nodeLocalCache"] = Option.none()
    if (nodeLocalCache && podAddress !== undefined) {
      const cacheCorefile = yield* Effect.try({
        try: () =>
          nodeLocalServer(nodeLocalDnsCorefileTemplate(Components.upstreamFile("nodelocaldns.yaml")), {
            localAddress: podAddress,
            clusterDns: loopback(dns!),
            upstream: forwardTo,
            domain: CLUSTER_DOMAIN,
            health: loopback(cacheHealth!),
            metrics: loopback(cacheMetrics!)
          }),
        catch: (error) => error as Error
      })
      const cacheFile = join(folder, "Corefile.node-local-dns")
      writeFileSync(cacheFile, cacheCorefile)
      yield* restartable(
        "node-local-dns",
        cacheFile,
        logFolder,
        answers200(`http://${loopback(cacheHealth!)}/health`, "NodeLocal DNSCache /health")
      )
      cache = Option.some({ corefile: cacheCorefile, metricsUrl: `http://${loopback(cacheMetrics!)}/metrics` })
    }
    return {
      server: loopback(dns!),
      metricsUrl: `http://${loopback(metrics!)}/metrics`,
      corefile,
      nodeLocalCache: cache,
      ...coreDns
    }
  })
