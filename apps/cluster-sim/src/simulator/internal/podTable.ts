/**
 * The simulator's pods as the endpoints controller keeps them: immutable snapshots in a
 * `SubscriptionRef`, replaced on every real change, and the pure transitions a kubelet would make.
 */
import { Effect, SubscriptionRef } from "effect"
import { type ClusterPod, isLive } from "../../Cluster.js"

/**
 * A pod after one probe: Ready (and Running) after a success; unready once Running and `failures` in a
 * row reach the threshold. A pod that is not live stays as it is. The same object when nothing changes.
 */
export const probed = (ok: boolean, failures: number, threshold: number) => (pod: ClusterPod): ClusterPod => {
  if (!isLive(pod)) return pod
  if (ok) {
    return pod.phase === "Running" && pod.ready
      ? pod
      : { ...pod, phase: "Running", ready: true, readyAt: Date.now() }
  }
  return pod.phase === "Running" && pod.ready && failures >= threshold ? { ...pod, ready: false } : pod
}

/** A live pod being deleted: Terminating, no longer ready. */
export const terminating = (pod: ClusterPod): ClusterPod =>
  isLive(pod) ? { ...pod, phase: "Terminating", ready: false } : pod

/** A pod whose process has exited. */
export const gone = (pod: ClusterPod): ClusterPod => ({ ...pod, phase: "Gone", ready: false })

/** The pods, and the ways to read and change one. */
export interface PodTable {
  readonly pods: SubscriptionRef.SubscriptionRef<ReadonlyArray<ClusterPod>>
  /**
   * Replaces pod `name`'s snapshot by `f` of it. Nothing is set when `f` changes nothing, so that
   * subscribers see only real changes (a probe that finds a Ready pod still ready changes nothing).
   */
  readonly update: (name: string, f: (pod: ClusterPod) => ClusterPod) => Effect.Effect<void>
  /** Whether pod `name` is live (not terminating, not gone). */
  readonly isLive: (name: string) => Effect.Effect<boolean>
  /** The live pod `name`, or the one `fallback` picks among the live ones; fails naming what is missing. */
  readonly pick: (
    name: string | undefined,
    fallback: (live: ReadonlyArray<ClusterPod>) => ClusterPod | undefined
  ) => Effect.Effect<ClusterPod, Error>
}

/** An empty table. */
export const make: Effect.Effect<PodTable> = Effect.gen(function*() {
  const pods = yield* SubscriptionRef.make<ReadonlyArray<ClusterPod>>([])
  return {
    pods,
    update: (name, f) =>
      Effect.flatMap(SubscriptionRef.get(pods), (all) => {
        const pod = all.find((candidate) => candidate.name === name)
        return pod === undefined || f(pod) === pod
          ? Effect.void
          : SubscriptionRef.update(
            pods,
            (current) => current.map((candidate) => (candidate.name === name ? f(candidate) : candidate))
          )
      }),
    isLive: (name) =>
      Effect.map(SubscriptionRef.get(pods), (all) => all.some((pod) => pod.name === name && isLive(pod))),
    pick: (name, fallback) =>
      Effect.flatMap(SubscriptionRef.get(pods), (all) => {
        const live = all.filter(isLive)
        const pod = name === undefined ? fallback(live) : live.find((candidate) => candidate.name === name)
        return pod === undefined
          ? Effect.fail(new Error(name === undefined ? "no live pod to act on" : `no live pod named ${name}`))
          : Effect.succeed(pod)
      })
  }
})
