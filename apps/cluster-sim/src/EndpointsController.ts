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
import {
  Array as Arr,
  Duration,
  Effect,
  FiberSet,
  Ref,
  Schedule,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { awaitValue, type Cluster, type ClusterPod, isLive, type Published } from "./Cluster.js"
import type { DnsBackend } from "./ClusterDns.js"
import { type Endpoint, endpointLabel } from "./DnsAnswers.js"
import * as Process from "@miroir/test-support/Process"
import { type PodProcess, spawn } from "./PodProcess.js"

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
 * A pod after one probe: Ready (and Running) after a success; unready once Running and `failures` in a
 * row reach the threshold. A pod that is not live stays as it is. The same object when nothing changes.
 */
const probed = (ok: boolean, failures: number, threshold: number) => (pod: ClusterPod): ClusterPod => {
  if (!isLive(pod)) return pod
  if (ok) {
    return pod.phase === "Running" && pod.ready
      ? pod
      : { ...pod, phase: "Running", ready: true, readyAt: Date.now() }
  }
  return pod.phase === "Running" && pod.ready && failures >= threshold ? { ...pod, ready: false } : pod
}

const terminating = (
  pod: ClusterPod
): ClusterPod => (isLive(pod) ? { ...pod, phase: "Terminating", ready: false } : pod)

const gone = (pod: ClusterPod): ClusterPod => ({ ...pod, phase: "Gone", ready: false })

/**
 * Starts the controller, publishing into `dns`. Closing the scope stops every pod (SIGTERM, then
 * SIGKILL after the grace period), then the publishing and the probes.
 */
export const make = (dns: DnsBackend, options: Options): Effect.Effect<EndpointsController, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const pods = yield* SubscriptionRef.make<ReadonlyArray<ClusterPod>>([])
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

    const endpointOf = (pod: ClusterPod): Endpoint => ({
      ip: pod.ip,
      ...(options.statefulSet ? { hostname: pod.name } : {})
    })

    // What DNS publishes follows the pods: the ready Running ones, unless all are made unready. Forked
    // before the finalizer below, so that it still publishes while the pods terminate.
    yield* Stream.zipLatest(SubscriptionRef.changes(pods), SubscriptionRef.changes(allUnready)).pipe(
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
      ),
      Effect.forkScoped
    )

    /**
     * Replaces pod `name`'s snapshot by `f` of it. Nothing is set when `f` changes nothing, so that
     * subscribers see only real changes (a probe that finds a Ready pod still ready changes nothing).
     */
    const updatePod = (name: string, f: (pod: ClusterPod) => ClusterPod) =>
      Effect.flatMap(SubscriptionRef.get(pods), (all) => {
        const pod = all.find((candidate) => candidate.name === name)
        return pod === undefined || f(pod) === pod
          ? Effect.void
          : SubscriptionRef.update(
            pods,
            (current) => current.map((candidate) => (candidate.name === name ? f(candidate) : candidate))
          )
      })

    const isLiveNow = (name: string) =>
      Effect.map(SubscriptionRef.get(pods), (all) => all.some((pod) => pod.name === name && isLive(pod)))

    // A failed probe is an answer, not an error: it resolves false. The timeout is the request's own, like
    // the kubelet's, and bounds it even when the prober is interrupted. With dozens of pods probed every
    // period, an Effect.timeout (a fiber each), an AbortController and an error value per failure showed
    // in the profile of the simulator's process.
    const probeTimeoutMs = Duration.toMillis(options.probeTimeout)
    const readyz = (url: string) =>
      Effect.promise(() =>
        fetch(`${url}/readyz`, { signal: AbortSignal.timeout(probeTimeoutMs) }).then(
          async (response) => {
            await response.body?.cancel()
            return response.ok
          },
          () => false
        )
      )

    /** The pod's readiness probe, every period while the pod is live. */
    const prober = (name: string, url: string) =>
      Effect.gen(function*() {
        const failures = yield* Ref.make(0)
        const probeOnce = Effect.gen(function*() {
          const ok = yield* readyz(url)
          const inARow = ok ? 0 : (yield* Ref.get(failures)) + 1
          yield* Ref.set(failures, inARow)
          yield* updatePod(name, probed(ok, inARow, options.failureThreshold))
          return yield* isLiveNow(name)
        })
        yield* Effect.repeat(probeOnce, { schedule: Schedule.spaced(options.probePeriod), while: (live) => live })
      })

    /** A pod whose process exits, whatever the reason, is Gone (and so leaves DNS). */
    const watchExit = (name: string, process: PodProcess) =>
      Process.exited(process.process).pipe(Effect.andThen(updatePod(name, gone)))

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
        Effect.all([prober(name, process.url), watchExit(name, process)], { concurrency: 2, discard: true })
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
        yield* Process.stop(process.process, { grace: options.terminationGrace })
      })

    const terminate = (pod: ClusterPod) => Effect.andThen(updatePod(pod.name, terminating), stop(pod))

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

    const pick = (name: string | undefined, fallback: (live: ReadonlyArray<ClusterPod>) => ClusterPod | undefined) =>
      Effect.flatMap(SubscriptionRef.get(pods), (all) => {
        const live = all.filter(isLive)
        const pod = name === undefined ? fallback(live) : live.find((candidate) => candidate.name === name)
        return pod === undefined
          ? Effect.fail(new Error(name === undefined ? "no live pod to act on" : `no live pod named ${name}`))
          : Effect.succeed(pod)
      })

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
        pick(name, (live) => live[0]).pipe(
          Effect.tap((pod) => updatePod(pod.name, terminating)),
          Effect.tap((pod) => FiberSet.run(podFibers, stop(pod))),
          Effect.map((pod) => pod.name)
        ),
      killPod: (name) =>
        pick(name, (live) => live.at(-1)).pipe(
          Effect.tap((pod) =>
            Effect.flatMap(processOf(pod.name), (process) => Process.signal(process.process, "SIGKILL"))
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
