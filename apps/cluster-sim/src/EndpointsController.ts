/**
 * The endpoints controller of the simulator, doing what the kubelet and Kubernetes' endpoint slices do
 * for discovery: it starts pods as real processes, probes each pod's `/readyz` like a kubelet (period,
 * timeout, failure threshold), and publishes in the cluster DNS exactly the pods that are ready and not
 * terminating. A deleted pod leaves DNS as soon as it starts terminating; a pod whose process dies
 * leaves it at once.
 */
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { Duration, Effect, Option, type Scope } from "effect"
import type { DnsBackend } from "./ClusterDns.js"
import { type Endpoint, endpointLabel } from "./DnsAnswers.js"
import { pollUntil } from "./internal/poll.js"
import { bundlePodService, type PodProcess, signalPod, startPod } from "./PodProcess.js"

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

/** A pod's lifecycle as the controller sees it. */
export type Phase = "Pending" | "Running" | "Terminating" | "Gone"

/** One pod. */
export interface Pod {
  readonly name: string
  readonly ip: string
  readonly label: string
  readonly process: PodProcess
  phase: Phase
  ready: boolean
  failures: number
  readyAt: number | undefined
}

/** A change of what DNS publishes, with its time (ms since the epoch). */
export interface DnsChange {
  readonly at: number
  readonly labels: ReadonlyArray<string>
}

/** The controller. */
export interface EndpointsController {
  /** Starts pods until `replicas` are live (or deletes the newest until so many are). */
  readonly scaleTo: (replicas: number) => Effect.Effect<void>
  /**
   * Deletes a pod, by default the oldest live one: it leaves DNS at once and gets SIGTERM; this returns
   * its name then, while the pod stops in the background (SIGKILL after the grace period).
   */
  readonly deletePod: (name?: string) => Effect.Effect<string>
  /** Kills a pod's process (SIGKILL), as a crash or eviction; by default the newest. Returns its name. */
  readonly killPod: (name?: string) => Effect.Effect<string>
  /** Makes every pod count as unready (so DNS publishes none) or ends that. */
  readonly setAllUnready: (on: boolean) => Effect.Effect<void>
  /** Every pod started so far, gone ones included. */
  readonly pods: () => ReadonlyArray<Pod>
  /** Pods that are Pending or Running. */
  readonly livePods: () => ReadonlyArray<Pod>
  /** Labels published in DNS now. */
  readonly published: () => ReadonlyArray<string>
  /** Every change of the published set, in order. */
  readonly dnsChanges: () => ReadonlyArray<DnsChange>
  /** Waits until `predicate` holds of the published labels; returns when it first did. */
  readonly awaitPublished: (
    predicate: (labels: ReadonlyArray<string>) => boolean,
    timeout: Duration.DurationInput
  ) => Effect.Effect<number, Error>
}

const REPLICA_SET_HASH = "7d9f8c6b5"
const podSuffix = () =>
  Array.from(randomBytes(5), (byte) => "bcdfghjklmnpqrstvwxz2456789"[byte % 27]).join("")

/** Starts the controller; closing the scope stops every pod (SIGTERM, then SIGKILL) and the probes. */
export const make = (dns: DnsBackend, options: Options): Effect.Effect<EndpointsController, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const pods: Array<Pod> = []
    const changes: Array<DnsChange> = []
    let allUnready = false
    let nextAddress = 10
    let nextOrdinal = 0
    const r = Duration.toMillis(options.refreshInterval)
    const bundle = yield* Effect.promise(() => bundlePodService(join(options.logFolder, "miroir.mjs")))

    const publish = () => {
      const endpoints: Array<Endpoint> = pods
        .filter((pod) => pod.phase === "Running" && pod.ready && !allUnready)
        .map((pod) => ({ ip: pod.ip, ...(options.statefulSet ? { hostname: pod.name } : {}) }))
      const labels = endpoints.map(endpointLabel).sort()
      const last = changes.at(-1)?.labels ?? []
      if (labels.join() === last.join()) return
      dns.setEndpoints(endpoints)
      changes.push({ at: Date.now(), labels })
    }

    const startOne = () => {
      const name = options.statefulSet ? `miroir-${nextOrdinal++}` : `miroir-${REPLICA_SET_HASH}-${podSuffix()}`
      const ip = `127.0.0.${nextAddress++}`
      const process = startPod({
        bundle,
        name,
        ip,
        hostname: options.statefulSet ? name : undefined,
        logFolder: options.logFolder,
        env: {
          MIROIR_DNS_SERVERS: dns.server,
          MIROIR_PEER_DISCOVERY_SERVICE: dns.spec.service,
          MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: `${r}ms`,
          // A fifth of the interval, as the defaults (3 s of 15 s); loopback DNS answers in a few ms.
          MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: `${Math.max(50, Math.min(3000, Math.floor(r / 5)))}ms`,
          MIROIR_LOG_LEVEL: "info"
        }
      })
      const pod: Pod = {
        name,
        ip,
        label: options.statefulSet ? name : endpointLabel({ ip }),
        process,
        phase: "Pending",
        ready: false,
        failures: 0,
        readyAt: undefined
      }
      pods.push(pod)
      void process.exited.then(() => {
        pod.phase = "Gone"
        pod.ready = false
        publish()
      })
    }

    const live = () => pods.filter((pod) => pod.phase === "Pending" || pod.phase === "Running")

    const probe = (pod: Pod) =>
      Effect.tryPromise(() => fetch(`${pod.process.url}/readyz`, { signal: AbortSignal.timeout(Duration.toMillis(options.probeTimeout)) }))
        .pipe(
          Effect.map((response) => response.ok),
          Effect.orElseSucceed(() => false),
          Effect.map((ok) => {
            if (pod.phase !== "Pending" && pod.phase !== "Running") return
            if (ok) {
              pod.failures = 0
              pod.phase = "Running"
              if (!pod.ready) {
                pod.ready = true
                pod.readyAt = Date.now()
              }
            } else if (pod.phase === "Running") {
              pod.failures += 1
              if (pod.failures >= options.failureThreshold) pod.ready = false
            }
          })
        )

    yield* Effect.suspend(() => Effect.forEach(live(), probe, { concurrency: "unbounded", discard: true })).pipe(
      Effect.zipRight(Effect.sync(publish)),
      Effect.zipRight(Effect.sleep(options.probePeriod)),
      Effect.forever,
      Effect.forkScoped
    )

    const terminate = (pod: Pod) =>
      Effect.gen(function*() {
        pod.phase = "Terminating"
        pod.ready = false
        publish()
        signalPod(pod.process, "SIGTERM")
        const stopped = yield* Effect.promise(() => pod.process.exited).pipe(
          Effect.timeout(options.terminationGrace),
          Effect.option
        )
        if (stopped._tag === "None") signalPod(pod.process, "SIGKILL")
      })

    yield* Effect.addFinalizer(() =>
      Effect.forEach(pods.filter((pod) => pod.phase !== "Gone"), terminate, { concurrency: "unbounded", discard: true })
    )

    const pick = (name: string | undefined, fallback: (candidates: ReadonlyArray<Pod>) => Pod | undefined) =>
      Effect.suspend(() => {
        const candidates = live()
        const pod = name === undefined ? fallback(candidates) : candidates.find((candidate) => candidate.name === name)
        return pod === undefined ? Effect.dieMessage(`no live pod ${name ?? ""} to act on`) : Effect.succeed(pod)
      })

    const awaitPublished = (predicate: (labels: ReadonlyArray<string>) => boolean, timeout: Duration.DurationInput) =>
      pollUntil(
        "DNS to publish the expected pods",
        timeout,
        Effect.sync(() => Option.filter(Option.fromNullable(changes.at(-1)), (change) => predicate(change.labels))).pipe(
          Effect.map(Option.map((change) => change.at))
        )
      )

    return {
      scaleTo: (replicas) =>
        Effect.gen(function*() {
          const current = live()
          for (let i = current.length; i < replicas; i++) startOne()
          const excess = current.slice(0, Math.max(0, current.length - replicas)).reverse()
          yield* Effect.forEach(excess, terminate, { concurrency: "unbounded", discard: true })
        }),
      deletePod: (name) =>
        pick(name, (candidates) => candidates[0]).pipe(
          Effect.tap((pod) => Effect.forkIn(terminate(pod), scope)),
          Effect.map((pod) => pod.name)
        ),
      killPod: (name) =>
        pick(name, (candidates) => candidates.at(-1)).pipe(
          Effect.tap((pod) => Effect.sync(() => signalPod(pod.process, "SIGKILL"))),
          Effect.tap((pod) => Effect.promise(() => pod.process.exited)),
          Effect.map((pod) => pod.name)
        ),
      setAllUnready: (on) =>
        Effect.sync(() => {
          allUnready = on
          publish()
        }),
      pods: () => pods,
      livePods: live,
      published: () => changes.at(-1)?.labels ?? [],
      dnsChanges: () => changes,
      awaitPublished
    }
  })
