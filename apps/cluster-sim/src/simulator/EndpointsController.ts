/**
 * The endpoints controller of the simulator, doing what the kubelet and Kubernetes' endpoint slices do
 * for discovery: it starts pods as real processes, probes each pod's `/readyz` like a kubelet (period,
 * timeout, failure threshold), and publishes in the cluster DNS exactly the pods that are ready and not
 * terminating. A deleted pod leaves DNS as soon as it starts terminating; a pod whose process dies
 * leaves it at once.
 *
 * Its state is two `SubscriptionRef`s: the pods (immutable snapshots, replaced on every change) and
 * what DNS publishes, which one fiber derives from the pods as they change. Each pod has its own fibers:
 * its prober and the watch of its process.
 */
import { randomBytes, randomInt } from "node:crypto"
import { join } from "node:path"
import { bundle } from "@miroir/miroir/bundle"
import { Array as Arr, Duration, Effect, FiberSet, type Scope, Semaphore, Stream, SubscriptionRef } from "effect"
import { awaitValue, type Cluster, type ClusterPod, isLive, type Published } from "../Cluster.js"
import type { DnsBackend } from "./ClusterDns.js"
import { type Endpoint, endpointLabel } from "./DnsAnswers.js"
import * as ChildProcess from "@miroir/process-kit/ChildProcess"
import * as PodTable from "./internal/podTable.js"
import { gone, terminating } from "./internal/podTable.js"
import { probe } from "./internal/readinessProbe.js"
import { type PodProcess, spawn } from "./SimulatedPod.js"

/** How the controller runs pods. */
export interface Options {
  /** StatefulSet pods (`miroir-0`, published by hostname) instead of Deployment pods (by dashed IP). */
  readonly statefulSet: boolean
  /** The pods' refresh interval R. */
  readonly refreshInterval: Duration.Duration
  /** Readiness probe period, timeout and failure threshold. */
  readonly probePeriod: Duration.Duration
  readonly probeTimeout: Duration.Duration
  readonly failureThreshold: number
  /** How long a deleted pod may take to stop before SIGKILL. */
  readonly terminationGrace: Duration.Duration
  /** Where each pod's log goes. */
  readonly logFolder: string
  /** Environment added to every pod's (`MIROIR_PEER_HINTS: "off"`, …), over the controller's own. */
  readonly env?: Readonly<Record<string, string>> | undefined
}

/** Defaults for a refresh interval `r`: kubelet-like probing, compressed in proportion. */
export const defaults = (r: Duration.Duration, logFolder: string): Options => ({
  statefulSet: false,
  refreshInterval: r,
  probePeriod: Duration.millis(Math.max(250, Duration.toMillis(r) / 4)),
  probeTimeout: Duration.millis(200),
  failureThreshold: 3,
  terminationGrace: Duration.seconds(5),
  logFolder
})

/** The controller: the pods and what DNS publishes, and what can be done to the pods. */
export interface EndpointsController extends Pick<Cluster, "pods" | "published" | "scaleTo" | "deletePod" | "killPod"> {
  /**
   * Makes every pod count as unready, or ends that. Turned on, it returns once DNS publishes no pod;
   * turned off, at once (the ready pods are published again right after).
   */
  readonly setAllUnready: (on: boolean) => Effect.Effect<void, Error>
}

const REPLICA_SET_HASH = "7d9f8c6b5"
/**
 * The loopback /24 of one controller's pods, drawn at random: simulators run side by side on one machine
 * (a test suite beside `pnpm start`, sessions sharing it), and two on the same addresses make pods fail
 * to listen. 127.0.0–15 stay free for the fixed addresses of other tests.
 */
const podNetwork = () => `127.0.${randomInt(16, 251)}`
const podSuffix = () => Array.from(randomBytes(5), (byte) => "bcdfghjklmnpqrstvwxz2456789"[byte % 27]).join("")

/** Long enough for a pod process to exit once killed, on a loaded machine. */
const EXIT_TIMEOUT = Duration.seconds(30)
/** The publishing fiber follows a change within microseconds; this only bounds a wait that cannot end. */
const PUBLISH_TIMEOUT = Duration.seconds(5)

const sameLabels = Arr.makeEquivalence<string>((a, b) => a === b)

/**
 * What DNS publishes follows the pods: the ready Running ones (by hostname for StatefulSet pods), unless
 * all are made unready; `published` changes only when the labels do.
 */
const publishReadyPods = (
  pods: SubscriptionRef.SubscriptionRef<ReadonlyArray<ClusterPod>>,
  allUnready: SubscriptionRef.SubscriptionRef<boolean>,
  published: SubscriptionRef.SubscriptionRef<Published>,
  dns: DnsBackend,
  byHostname: boolean
) => {
  const endpointOf = (pod: ClusterPod): Endpoint => ({ ip: pod.ip, ...(byHostname ? { hostname: pod.name } : {}) })
  return Stream.zipLatest(SubscriptionRef.changes(pods), SubscriptionRef.changes(allUnready)).pipe(
    Stream.map((
      [all, unready]
    ) => (unready ? [] : all.filter((pod) => pod.phase === "Running" && pod.ready).map(endpointOf))),
    Stream.runForEach((endpoints) =>
      Effect.gen(function*() {
        const labels = endpoints.map(endpointLabel).sort()
        if (sameLabels(labels, (yield* SubscriptionRef.get(published)).labels)) return
        dns.setEndpoints(endpoints)
        yield* SubscriptionRef.set(published, { at: Date.now(), labels })
      })
    )
  )
}

/**
 * Starts the controller, publishing into `dns`. Closing the scope stops every pod (SIGTERM, then
 * SIGKILL after the grace period), then the publishing and the probes.
 */
export const make = (dns: DnsBackend, options: Options): Effect.Effect<EndpointsController, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const table = yield* PodTable.make
    const { pods } = table
    const published = yield* SubscriptionRef.make<Published>({ at: 0, labels: [] })
    const allUnready = yield* SubscriptionRef.make(false)
    // The process handles stay here: what others see of a pod is its snapshot in `pods`.
    const processes = new Map<string, PodProcess>()
    // Made before the finalizer that stops the pods, so that it is closed after: the watches of the
    // processes see them exit, and mark them Gone, while the pods stop.
    const podFibers = yield* FiberSet.make()
    const r = Duration.toMillis(options.refreshInterval)
    const network = podNetwork()
    const bundleFile = yield* Effect.tryPromise({
      try: () => bundle(join(options.logFolder, "miroir.mjs")),
      catch: (cause) => new Error(`cannot bundle the pod service: ${String(cause)}`)
    })

    // Forked before the finalizer below, so that it still publishes while the pods terminate.
    yield* Effect.forkScoped(publishReadyPods(pods, allUnready, published, dns, options.statefulSet))

    /** A pod whose process exits, whatever the reason, is Gone (and so leaves DNS). */
    const watchExit = (name: string, process: PodProcess) =>
      ChildProcess.exited(process.process).pipe(Effect.andThen(table.update(name, gone)))

    const startOne = Effect.gen(function*() {
      // Named and addressed after the count of pods so far, under the ref's lock: no two pods share either.
      const [name, process] = yield* SubscriptionRef.modifyEffect(pods, (all) =>
        Effect.sync(() => {
          const name = options.statefulSet ? `miroir-${all.length}` : `miroir-${REPLICA_SET_HASH}-${podSuffix()}`
          const ip = `${network}.${10 + all.length}`
          const process = spawn({
            bundle: bundleFile,
            name,
            ip,
            logFolder: options.logFolder,
            env: {
              MIROIR_DNS_SERVERS: dns.server,
              MIROIR_PEER_DISCOVERY_SERVICE: dns.spec.service,
              MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: `${r}ms`,
              // A fifth of the interval, as the defaults (3 s of 15 s); loopback DNS answers in a few ms.
              MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: `${Math.max(50, Math.min(3000, Math.floor(r / 5)))}ms`,
              MIROIR_LOG_LEVEL: "info",
              ...options.env
            }
          })
          const pod: ClusterPod = {
            name,
            ip,
            label: options.statefulSet ? name : endpointLabel({ ip }),
            url: process.url,
            metricsUrl: process.metricsUrl,
            phase: "Pending",
            ready: false,
            readyAt: undefined
          }
          return [[name, process] as const, [...all, pod]] as const
        }))
      processes.set(name, process)
      yield* FiberSet.run(
        podFibers,
        Effect.all([probe(table, name, process.url, options), watchExit(name, process)], {
          concurrency: 2,
          discard: true
        })
      )
    })

    const processOf = (name: string) => {
      const process = processes.get(name)
      return process === undefined ? Effect.die(new Error(`no process for pod ${name}`)) : Effect.succeed(process)
    }

    /**
     * Stops a pod that is terminating already: once DNS no longer publishes it (as an endpoint slice
     * drops a terminating pod before the kubelet signals it), SIGTERM, and SIGKILL after the grace period.
     */
    const stop = (pod: ClusterPod) =>
      Effect.gen(function*() {
        yield* awaitValue(
          published,
          (now) => !now.labels.includes(pod.label),
          PUBLISH_TIMEOUT,
          `DNS to drop ${pod.name}`
        ).pipe(
          Effect.catch((error) => Effect.logWarning(`${error.message}; signalling it anyway`))
        )
        const process = yield* processOf(pod.name)
        yield* ChildProcess.stop(process.process, { grace: options.terminationGrace })
      })

    const terminate = (pod: ClusterPod) => Effect.andThen(table.update(pod.name, terminating), stop(pod))

    yield* Effect.addFinalizer(() =>
      Effect.flatMap(
        SubscriptionRef.get(pods),
        (all) =>
          Effect.forEach(all.filter((pod) => pod.phase !== "Gone"), terminate, {
            concurrency: "unbounded",
            discard: true
          })
      )
    )

    // One scaling at a time: each counts the live pods it starts from.
    const scaling = yield* Semaphore.make(1)

    return {
      pods,
      published,
      scaleTo: (replicas) =>
        Effect.gen(function*() {
          const live = (yield* SubscriptionRef.get(pods)).filter(isLive)
          for (let i = live.length; i < replicas; i++) yield* startOne
          yield* Effect.forEach(live.slice(Math.max(0, replicas)).reverse(), terminate, {
            concurrency: "unbounded",
            discard: true
          })
        }).pipe(Semaphore.withPermits(scaling, 1)),
      deletePod: (name) =>
        table.pick(name, (live) => live[0]).pipe(
          Effect.tap((pod) => table.update(pod.name, terminating)),
          Effect.tap((pod) => FiberSet.run(podFibers, stop(pod))),
          Effect.map((pod) => pod.name)
        ),
      killPod: (name) =>
        table.pick(name, (live) => live.at(-1)).pipe(
          Effect.tap((pod) =>
            Effect.flatMap(processOf(pod.name), (process) => ChildProcess.signal(process.process, "SIGKILL"))
          ),
          Effect.tap((pod) =>
            awaitValue(
              pods,
              (all) => all.some((candidate) => candidate.name === pod.name && candidate.phase === "Gone"),
              EXIT_TIMEOUT,
              `${pod.name} to exit after SIGKILL`
            )
          ),
          Effect.map((pod) => pod.name)
        ),
      setAllUnready: (on) =>
        SubscriptionRef.set(allUnready, on).pipe(
          Effect.andThen(
            on
              ? Effect.asVoid(
                awaitValue(published, (now) => now.labels.length === 0, PUBLISH_TIMEOUT, "DNS to publish no pod")
              )
              : Effect.void
          )
        )
    }
  })
