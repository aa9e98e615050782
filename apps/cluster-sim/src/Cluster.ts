/**
 * What the scenario and the observer need of a cluster, whichever runs it: the simulator (its own
 * cluster DNS and endpoints controller) or real Kubernetes components (kube-apiserver, the
 * controllers, CoreDNS, a real node running the image built from the Dockerfile). Both run real Miroir
 * pod processes; they differ in who publishes the pods, who answers DNS and where the pods run.
 *
 * State is kept in `SubscriptionRef`s: whoever waits for a condition subscribes to the changes
 * instead of polling a shared array.
 */
import { Duration, Effect, Option, Stream, SubscriptionRef } from "effect"

/** The port of a pod's HTTP API, on its own address: the pod service's default and the chart's, in both clusters. */
export const HTTP_PORT = 7700
/** The port of a pod's /metrics, on its own address. */
export const METRICS_PORT = 9090

/** A pod's lifecycle as the cluster sees it. */
export type Phase = "Pending" | "Running" | "Terminating" | "Gone"

/** One pod, as a snapshot: clusters replace it in {@link Cluster.pods} when it changes. */
export interface ClusterPod {
  /** The pod's name (`miroir-7d9f8c6b5-x2x4q`, `miroir-0`). */
  readonly name: string
  /**
   * Where its process listens and is reached: a distinct loopback address (127.0.x.y) on the simulator,
   * its pod IP (10.244.N.x, reached over the node's bridge) on Kubernetes.
   */
  readonly ip: string
  /** The first label of its SRV target: the dashed IP (Deployment) or the hostname (StatefulSet). */
  readonly label: string
  /** Base URL of its HTTP API (`http://127.0.0.12:7700`). */
  readonly url: string
  /** URL of its Prometheus `/metrics`. */
  readonly metricsUrl: string
  readonly phase: Phase
  /** Whether it is Ready (its readiness probe passes). */
  readonly ready: boolean
  /** When it last became Ready (ms since the epoch), as the cluster recorded it. */
  readonly readyAt: number | undefined
}

/** What DNS publishes (the ready endpoints of the headless Service), and since when. */
export interface Published {
  /** When this set was published (ms since the epoch); 0 before anything was. */
  readonly at: number
  /** The sorted labels of the published pods. */
  readonly labels: ReadonlyArray<string>
}

/** A cluster the scenario drives. */
export interface Cluster {
  /** Says what runs the cluster, for reports (`simulator (127.0.0.1:40123)`, `Kubernetes v1.37.2 …`). */
  readonly description: string
  /** Every pod started so far, gone ones included, in the order they were created. */
  readonly pods: SubscriptionRef.SubscriptionRef<ReadonlyArray<ClusterPod>>
  /** What DNS publishes now. */
  readonly published: SubscriptionRef.SubscriptionRef<Published>
  /**
   * Whether a deleted or crashed pod is replaced (by its Deployment's ReplicaSet on Kubernetes; the
   * simulator does not): a step that awaits the cluster settled after a departure then awaits the
   * replacement too, not only the survivors.
   */
  readonly replacesDeparted: boolean
  /** Runs `replicas` pods: starts new ones, or deletes the newest gracefully. */
  readonly scaleTo: (replicas: number) => Effect.Effect<void, Error>
  /**
   * Deletes a pod gracefully (by default the oldest live one; on Kubernetes through the Eviction API):
   * it leaves DNS as it starts terminating and gets SIGTERM. Returns its name at once; it stops in the
   * background.
   */
  readonly deletePod: (name?: string) => Effect.Effect<string, Error>
  /**
   * Kills a pod's process with SIGKILL, as a crash (by default the newest live one); returns its name. On
   * Kubernetes the pod is then deleted at once and replaced (a crashed container the kubelet restarts at
   * once could be back in DNS before anyone looked).
   */
  readonly killPod: (name?: string) => Effect.Effect<string, Error>
  /** Starts or ends a DNS outage: while on, the cluster DNS answers nothing. */
  readonly setDnsOutage: (on: boolean) => Effect.Effect<void, Error>
}

/** Whether a pod is live: starting or running, not terminating or gone. */
export const isLive = (pod: ClusterPod): boolean => pod.phase === "Pending" || pod.phase === "Running"

/** The live pods now. */
export const livePods = (cluster: Cluster): Effect.Effect<ReadonlyArray<ClusterPod>> =>
  Effect.map(SubscriptionRef.get(cluster.pods), (pods) => pods.filter(isLive))

/** The labels DNS publishes now. */
export const publishedLabels = (cluster: Cluster): Effect.Effect<ReadonlyArray<string>> =>
  Effect.map(SubscriptionRef.get(cluster.published), (published) => published.labels)

/**
 * Waits until the value of `ref` satisfies `predicate` (now or at a later change) and returns that
 * value; fails with an error saying `what` after `timeout`.
 */
export const awaitValue = <A>(
  ref: SubscriptionRef.SubscriptionRef<A>,
  predicate: (value: A) => boolean,
  timeout: Duration.Input,
  what: string
): Effect.Effect<A, Error> =>
  SubscriptionRef.changes(ref).pipe(
    Stream.filter(predicate),
    Stream.runHead,
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new Error(`timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))} waiting for ${what}`)
        )
    }),
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new Error(`${what}: the cluster stopped before it happened`)),
      onSome: Effect.succeed
    }))
  )

/** Waits until what DNS publishes satisfies `predicate`; returns when it was published (ms since the epoch). */
export const awaitPublished = (
  cluster: Cluster,
  predicate: (labels: ReadonlyArray<string>) => boolean,
  timeout: Duration.Input
): Effect.Effect<number, Error> =>
  Effect.map(
    awaitValue(
      cluster.published,
      (published) => predicate(published.labels),
      timeout,
      "DNS to publish the expected pods"
    ),
    (published) => published.at
  )

/**
 * Waits until the cluster has settled: every live pod is ready and exactly the live ready pods are
 * published (on Kubernetes, a crashed pod has restarted and an evicted one has been replaced).
 */
export const awaitSettled = (cluster: Cluster, timeout: Duration.Input): Effect.Effect<void, Error> =>
  awaitValue(
    cluster.pods,
    (pods) => pods.filter(isLive).every((pod) => pod.ready),
    timeout,
    "every live pod to be ready"
  ).pipe(
    Effect.flatMap((pods) => {
      const labels = pods.filter(isLive).map((pod) => pod.label).sort()
      return awaitPublished(cluster, (published) => published.join() === labels.join(), timeout)
    }),
    Effect.asVoid
  )
