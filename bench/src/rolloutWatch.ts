/**
 * What the rolling-update benchmarks watch while the pods change, on any cluster (the simulator or the
 * real components): every change of what DNS publishes, and every published pod's view, polled. Shared
 * by the simulator's and the real cluster's rollout benchmarks.
 */
import { type Cluster, publishedLabels } from "@miroir/cluster-sim/Cluster"
import { peersOf } from "@miroir/cluster-sim/Observer"
import type * as Client from "@miroir/pod-api/Client"
import { Duration, Effect, Fiber, Option, type Scope, Stream, SubscriptionRef } from "effect"

/** One change of what DNS publishes: when, and the labels after it. */
export interface Published {
  readonly at: number
  readonly labels: ReadonlyArray<string>
}

/** What was watched, from the start of the watch until it stopped. */
export interface Watched {
  /** Every change of what DNS publishes, in order. */
  readonly events: ReadonlyArray<Published>
  /** The polls (their start, ms) at which every published pod listed exactly the published set. */
  readonly agreements: ReadonlyArray<number>
  /** The polls at which every published pod answered: when, and what each one listed. */
  readonly sightings: ReadonlyArray<{ readonly at: number; readonly views: ReadonlyArray<ReadonlyArray<string>> }>
  /** Each pod's distinct views in order, by label: what shardMoves.gained counts moves over. */
  readonly views: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<string>>>
}

const sameSet = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => [...a].sort().join() === [...b].sort().join()

/**
 * Starts watching `cluster`: DNS's changes as they come, and every published pod's `/peers` every
 * `every`. The returned effect stops the watch and gives what it saw.
 */
export const watch = (
  cluster: Cluster,
  every: Duration.Input
): Effect.Effect<Effect.Effect<Watched>, never, Client.PodClient | Scope.Scope> =>
  Effect.gen(function*() {
    const events: Array<Published> = []
    const eventFiber = yield* SubscriptionRef.changes(cluster.published).pipe(
      Stream.drop(1),
      Stream.runForEach((published) =>
        Effect.sync(() => void events.push({ at: published.at, labels: published.labels }))
      ),
      Effect.forkScoped
    )
    const agreements: Array<number> = []
    const sightings: Array<Watched["sightings"][number]> = []
    const views = new Map<string, Array<ReadonlyArray<string>>>()
    const pollOnce = Effect.gen(function*() {
      // Stamped when the poll begins: its answers are at least as new as that, never older.
      const at = Date.now()
      const labels = yield* publishedLabels(cluster)
      const pods = (yield* SubscriptionRef.get(cluster.pods)).filter((pod) => labels.includes(pod.label))
      const seen = yield* Effect.forEach(pods, (pod) => peersOf(pod), { concurrency: "unbounded" })
      pods.forEach((pod, i) => {
        Option.map(seen[i]!, (peers) => {
          const history = views.get(pod.label) ?? []
          if (history.length === 0 || !sameSet(history.at(-1)!, peers)) history.push(peers)
          views.set(pod.label, history)
        })
      })
      if (pods.length !== labels.length || !seen.every(Option.isSome)) return
      const listed = seen.map((peers) => Option.getOrElse(peers, () => []))
      sightings.push({ at, views: listed })
      if (listed.every((peers) => sameSet(peers, labels))) agreements.push(at)
    })
    const pollFiber = yield* Effect.forkScoped(Effect.forever(Effect.andThen(pollOnce, Effect.sleep(every))))
    return Effect.as(
      Effect.andThen(Fiber.interrupt(pollFiber), Fiber.interrupt(eventFiber)),
      { events, agreements, sightings, views }
    )
  })
