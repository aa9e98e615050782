/**
 * Where the scheduler put the release's pods, and evening them out over the nodes before a node failure,
 * so that a failing node takes down the same share of the pods in every run (crashes before it leave their
 * replacements wherever the scheduler found room: 4/2 instead of 3/3 was seen).
 */
import { Duration, Effect } from "effect"
import { awaitSettled } from "../Cluster.js"
import type { KubeCluster } from "./KubeCluster.js"

/** What is read of a Pod object. */
interface PodObject {
  readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: string }
  readonly spec?: { readonly nodeName?: string }
  readonly status?: { readonly podIP?: string }
}

/** A pod of the release and its node. */
export interface PlacedPod {
  readonly name: string
  readonly ip: string
  readonly node: string
}

/** The release's live pods with an address, and their nodes (as the API has them). */
export const placement = (
  cluster: KubeCluster,
  namespace: string,
  release = "miroir"
): Effect.Effect<ReadonlyArray<PlacedPod>, Error> =>
  cluster.controlPlane.api.request<{ items: ReadonlyArray<PodObject> }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`app.kubernetes.io/instance=${release}`)}`
  ).pipe(
    Effect.map((list) =>
      list.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined && pod.status?.podIP !== undefined)
        .map((pod) => ({ name: pod.metadata?.name ?? "", ip: pod.status?.podIP ?? "", node: pod.spec?.nodeName ?? "" }))
    )
  )

/** Pods per node name (every node of the cluster listed, with 0 if it has none). */
export const podsPerNode = (cluster: KubeCluster, pods: ReadonlyArray<PlacedPod>): Record<string, number> => {
  const counts: Record<string, number> = Object.fromEntries(cluster.nodes.map((node) => [node.name, 0]))
  for (const pod of pods) counts[pod.node] = (counts[pod.node] ?? 0) + 1
  return counts
}

/**
 * Moves pods from the fullest node to the emptiest until they differ by at most one: the fullest cordoned,
 * one of its pods evicted (the Eviction API: a graceful deletion, preStop included), uncordoned once its
 * replacement has been scheduled elsewhere, then every live pod ready. Returns the pods per node afterwards.
 */
export const rebalance = (
  cluster: KubeCluster,
  namespace: string,
  timeout: Duration.Duration = Duration.minutes(2)
): Effect.Effect<Record<string, number>, Error> =>
  Effect.gen(function*() {
    for (let move = 0; move < 8; move++) {
      const pods = yield* placement(cluster, namespace)
      const counts = podsPerNode(cluster, pods)
      const sorted = Object.entries(counts).sort((a, b) => b[1] - a[1])
      const [fullest, most] = sorted[0]!
      const least = sorted.at(-1)![1]
      if (most - least <= 1) return counts
      const victim = pods.find((pod) => pod.node === fullest)!
      yield* cluster.kubectl(["cordon", fullest])
      // Uncordoned only once the replacement has its node and address: the scheduler must not put it back.
      yield* Effect.gen(function*() {
        yield* cluster.deletePod(victim.name)
        const deadline = Date.now() + Duration.toMillis(timeout)
        for (;;) {
          const now = yield* placement(cluster, namespace)
          if (now.length >= pods.length && !now.some((pod) => pod.name === victim.name)) break
          if (Date.now() > deadline) return yield* Effect.fail(new Error(`rebalance: ${victim.name} not replaced`))
          yield* Effect.sleep(Duration.millis(250))
        }
      }).pipe(Effect.ensuring(Effect.ignore(cluster.kubectl(["uncordon", fullest]))))
      yield* awaitSettled(cluster, timeout)
    }
    return podsPerNode(cluster, yield* placement(cluster, namespace))
  })
