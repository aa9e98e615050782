/**
 * Rolling updates on the simulator, with and without refresh hints: 6 pods, maxSurge 1,
 * maxUnavailable 0, as a Deployment controller does it — start a new pod, wait until it is ready and
 * published, delete an old one, six times. Measured while it runs:
 *
 * - after every change of what DNS publishes (a join or a leave), the time until every published pod
 *   lists exactly the published set (the first such moment after the change: the next step may begin
 *   before it), and the time until every published pod lists the pod that joined (lists no longer the
 *   pod that left) — "seen by every pod";
 * - shard-seconds with no owner and with more than one (ShardGaps, every pod's /ownership);
 * - shard moves: shards each pod gained from one of its views to the next, against the minimum, the
 *   shards whose owner changes from one published set to the next.
 *
 * Hints off is `MIROIR_PEER_HINTS=off` in every pod's environment.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitPublished, livePods, publishedLabels } from "@miroir/cluster-sim/Cluster"
import * as ClusterDns from "@miroir/cluster-sim/simulator/ClusterDns"
import * as EndpointsController from "@miroir/cluster-sim/simulator/EndpointsController"
import { awaitConverged } from "@miroir/cluster-sim/Observer"
import * as ShardGaps from "@miroir/cluster-sim/ShardGaps"
import * as SimulatedCluster from "@miroir/cluster-sim/simulator/SimulatedCluster"
import * as Client from "@miroir/pod-api/Client"
import { Duration, Effect } from "effect"
import * as RolloutWatch from "./rolloutWatch.js"
import { gained, ownerChanges } from "./shardMoves.js"
import { quantile } from "./stats.js"

const PODS = 6
const SHARDS = 256
const POLL = Duration.millis(50)

/** One rolling update's measurements. */
export interface RolloutRun {
  readonly intervalMs: number
  readonly hints: boolean
  /** Per change of what DNS publishes: ms until every published pod listed exactly the published set. */
  readonly agreeMs: ReadonlyArray<number>
  /** Per join (leave): ms until every published pod listed the new pod (no longer listed the old one). */
  readonly joinMs: ReadonlyArray<number>
  readonly leaveMs: ReadonlyArray<number>
  readonly unownedShardSeconds: number
  readonly doubleOwnedShardSeconds: number
  readonly longestUnownedMs: number
  readonly moves: number
  readonly minimumMoves: number
  readonly durationMs: number
}

/** One rolling update at interval `r`, hints on or off, on a fresh simulated cluster. */
const rollOnce = (r: Duration.Duration, hints: boolean): Effect.Effect<RolloutRun, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const cluster = yield* SimulatedCluster.make(yield* ClusterDns.make(), {
      ...EndpointsController.defaults(r, mkdtempSync(join(tmpdir(), "miroir-bench-rollout-"))),
      env: { MIROIR_PEER_HINTS: hints ? "on" : "off" }
    })
    yield* cluster.scaleTo(PODS)
    yield* awaitPublished(cluster, (labels) => labels.length === PODS, "120 seconds")
    yield* awaitConverged(cluster, SHARDS, r, "the first pods")
    const old = (yield* livePods(cluster)).map((pod) => pod.name)

    // What DNS publishes, change by change, and every published pod's view every POLL.
    const stopWatching = yield* RolloutWatch.watch(cluster, POLL)
    const gaps = yield* ShardGaps.sample(cluster, SHARDS, "100 millis")
    const initial = yield* publishedLabels(cluster)
    const started = Date.now()

    for (const name of old) {
      const live = (yield* livePods(cluster)).length
      yield* cluster.scaleTo(live + 1)
      yield* awaitPublished(cluster, (labels) => labels.length === PODS + 1, "120 seconds")
      yield* cluster.deletePod(name)
      yield* awaitPublished(cluster, (labels) => labels.length === PODS, "60 seconds")
    }
    yield* awaitConverged(cluster, SHARDS, r, "the pods after the rolling update")
    yield* Effect.sleep(Duration.millis(300))
    const report = yield* gaps
    const { agreements, events, sightings, views } = yield* stopWatching

    const agreeMs: Array<number> = []
    const joinMs: Array<number> = []
    const leaveMs: Array<number> = []
    let previous = initial
    let minimumMoves = 0
    for (const event of events) {
      const agreed = agreements.find((at) => at >= event.at)
      if (agreed !== undefined) agreeMs.push(agreed - event.at)
      // Seen by every pod: the one that joined listed by every published pod (itself included), the one
      // that left by none — whether or not the next step has begun meanwhile.
      const joined = event.labels.filter((label) => !previous.includes(label))
      const left = previous.filter((label) => !event.labels.includes(label))
      const seenAt = sightings.find((sighting) =>
        sighting.at >= event.at
        && joined.every((label) => sighting.views.every((view) => view.includes(label)))
        && left.every((label) => sighting.views.every((view) => !view.includes(label)))
      )
      if (seenAt !== undefined) (joined.length > 0 ? joinMs : leaveMs).push(seenAt.at - event.at)
      minimumMoves += ownerChanges(SHARDS, previous, event.labels)
      previous = event.labels
    }
    const moves = gained(SHARDS, initial, views)
    return {
      intervalMs: Duration.toMillis(r),
      hints,
      agreeMs,
      joinMs,
      leaveMs,
      unownedShardSeconds: report.unownedShardSeconds,
      doubleOwnedShardSeconds: report.multiOwnedShardSeconds,
      longestUnownedMs: report.longestUnownedMs,
      moves,
      minimumMoves,
      durationMs: Date.now() - started
    }
  }).pipe(Effect.scoped)

/**
 * Runs the rolling updates: at R = 15 s (production) one of each, hints on and off (each takes about a
 * minute, mostly waiting for the slowest pod without hints); at R = 2 s three of each (one when quick).
 */
export const run = (quick: boolean): Effect.Effect<ReadonlyArray<RolloutRun>, Error> =>
  Effect.forEach(
    [
      ...[true, false].map((hints) => [Duration.seconds(15), hints, 1] as const),
      ...[true, false].map((hints) => [Duration.seconds(2), hints, quick ? 1 : 3] as const)
    ],
    ([r, hints, trials]) =>
      Effect.forEach(Array.from({ length: trials }), () =>
        rollOnce(r, hints).pipe(
          Effect.tap((run) =>
            Effect.sync(() =>
              console.log(
                `  R=${Duration.format(r)} hints ${hints ? "on" : "off"}: ${JSON.stringify(summarize([run]))}`
              )
            )
          )
        ))
  ).pipe(Effect.map((runs) => runs.flat()), Effect.provide(Client.layerFetch))

/** The figures of the runs of one interval and hints setting, pooled. */
export const summarize = (runs: ReadonlyArray<RolloutRun>) => {
  const all = runs.flatMap((run) => run.agreeMs)
  const join = runs.flatMap((run) => run.joinMs)
  const leave = runs.flatMap((run) => run.leaveMs)
  const sum = (f: (run: RolloutRun) => number) => runs.reduce((total, run) => total + f(run), 0) / runs.length
  return {
    trials: runs.length,
    agreeP50Ms: quantile(all, 0.5),
    agreeP99Ms: quantile(all, 0.99),
    agreeMaxMs: Math.max(...all),
    joinP50Ms: quantile(join, 0.5),
    joinP99Ms: quantile(join, 0.99),
    leaveP50Ms: quantile(leave, 0.5),
    leaveP99Ms: quantile(leave, 0.99),
    unownedShardSeconds: sum((run) => run.unownedShardSeconds),
    doubleOwnedShardSeconds: sum((run) => run.doubleOwnedShardSeconds),
    longestUnownedMs: Math.max(...runs.map((run) => run.longestUnownedMs)),
    moves: sum((run) => run.moves),
    minimumMoves: sum((run) => run.minimumMoves),
    changes: all.length
  }
}
