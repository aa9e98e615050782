/**
 * The cluster's state as the scenario sees it ({@link ClusterPod}s and what DNS publishes), derived from
 * watches of the API server as they change: the release's pods (by its instance label) and the headless
 * Service's EndpointSlices, which CoreDNS serves. Every pod seen is kept, gone ones as `Gone`, and its
 * containers' logs are followed from the moment it runs.
 */
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1/EndpointSlice"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Effect, type Scope, Stream, SubscriptionRef } from "effect"
import type { ClusterPod, Phase, Published } from "../../Cluster.js"
import { HTTP_PORT, METRICS_PORT } from "../../Cluster.js"
import type { Service as KubeApiService } from "../KubeApi.js"
import type { PodLogs } from "./podLogs.js"

const dashed = (ip: string) => ip.replaceAll(".", "-").replaceAll(":", "-")

const phaseOf = (pod: IPod): Phase =>
  pod.metadata?.deletionTimestamp !== undefined ?
    "Terminating"
    : pod.status?.phase === "Running" ?
    "Running"
    : pod.status?.phase === "Pending" || pod.status?.phase === undefined ?
    "Pending"
    : "Gone"

const isReady = (pod: IPod) => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false

/** The ready endpoints of the Service's slices, as CoreDNS publishes them (dashed IPs, sorted). */
const readyLabels = (slices: ReadonlyArray<IEndpointSlice>): ReadonlyArray<string> =>
  [
    ...new Set(slices.flatMap((slice) =>
      (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) =>
        e.hostname ?? dashed(e.addresses[0]!)
      )
    ))
  ].sort()

/** What the watches keep up to date. */
export interface ReleaseState {
  /** Every pod of the release seen so far, gone ones included (the scenario's `Cluster.pods`). */
  readonly pods: SubscriptionRef.SubscriptionRef<ReadonlyArray<ClusterPod>>
  /** The ready endpoints of the headless Service, and when they last changed (`Cluster.published`). */
  readonly published: SubscriptionRef.SubscriptionRef<Published>
  /** The latest object of each live pod, by name (its container's id, for a crash). */
  readonly latest: ReadonlyMap<string, IPod>
  /** Pods whose container ran and that were then deleted gracefully: their preStop hook ran. */
  readonly terminated: ReadonlySet<string>
}

/**
 * Watches the pods of `release` in `namespace` and the EndpointSlices of its headless Service `headless`
 * in fibers of the scope; `logs` follows each pod's containers.
 */
export const watchRelease = (
  api: KubeApiService,
  namespace: string,
  release: string,
  headless: string,
  logs: PodLogs
): Effect.Effect<ReleaseState, never, Scope.Scope> =>
  Effect.gen(function*() {
    const selector = encodeURIComponent(`app.kubernetes.io/instance=${release}`)
    const podInformer = yield* api.informer<IPod>(`/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`)
    const sliceInformer = yield* api.informer<IEndpointSlice>(
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${
        encodeURIComponent(`kubernetes.io/service-name=${headless}`)
      }`
    )

    const pods = yield* SubscriptionRef.make<ReadonlyArray<ClusterPod>>([])
    const published = yield* SubscriptionRef.make<Published>({ at: 0, labels: [] })
    const readySince = new Map<string, number>()
    const seen = new Map<string, ClusterPod>()
    const latest = new Map<string, IPod>()
    const terminated = new Set<string>()
    yield* SubscriptionRef.changes(podInformer).pipe(
      Stream.runForEach((all) =>
        Effect.gen(function*() {
          const current = new Set<string>()
          latest.clear()
          for (const pod of all.values()) {
            const uid = pod.metadata?.uid ?? ""
            const name = pod.metadata?.name ?? ""
            const podIP = pod.status?.podIP
            current.add(uid)
            latest.set(name, pod)
            yield* logs.follow(pod)
            if (pod.metadata?.deletionTimestamp !== undefined && logs.pods().includes(name)) terminated.add(name)
            const ready = isReady(pod) && pod.metadata?.deletionTimestamp === undefined
            if (ready && !readySince.has(uid)) readySince.set(uid, Date.now())
            if (!ready) readySince.delete(uid)
            if (podIP === undefined) continue
            seen.set(uid, {
              name,
              ip: podIP,
              label: dashed(podIP),
              url: `http://${podIP}:${HTTP_PORT}`,
              metricsUrl: `http://${podIP}:${METRICS_PORT}/metrics`,
              phase: phaseOf(pod),
              ready,
              readyAt: readySince.get(uid)
            })
          }
          for (const [uid, pod] of seen) {
            if (!current.has(uid) && pod.phase !== "Gone") seen.set(uid, { ...pod, phase: "Gone", ready: false })
          }
          yield* SubscriptionRef.set(pods, [...seen.values()])
        })
      ),
      Effect.forkScoped
    )
    yield* SubscriptionRef.changes(sliceInformer).pipe(
      Stream.map((slices) => readyLabels([...slices.values()])),
      Stream.changesWith((a, b) => a.join() === b.join()),
      Stream.runForEach((labels) => SubscriptionRef.set(published, { at: Date.now(), labels })),
      Effect.forkScoped
    )
    return { pods, published, latest, terminated }
  })
