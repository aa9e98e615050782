/**
 * Convergence: on the simulator with real pod processes, the time from a DNS change until every live
 * pod shows the new set (and they own a disjoint cover of the shards), for a scale-up, a graceful
 * delete and a crash, over repeated trials, at R = 1 s and R = 250 ms. Reported as p50 and max, and as
 * ratios to R. Target: max ≤ 1.25 R (one interval plus jitter); the seed's bound is 2 R.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitPublished, livePods, publishedLabels } from "@miroir/cluster-sim/Cluster"
import * as ClusterDns from "@miroir/cluster-sim/simulator/ClusterDns"
import * as EndpointsController from "@miroir/cluster-sim/simulator/EndpointsController"
import { awaitConverged } from "@miroir/cluster-sim/Observer"
import * as SimulatedCluster from "@miroir/cluster-sim/simulator/SimulatedCluster"
import * as Client from "@miroir/pod-api/Client"
import { Duration, Effect } from "effect"
import { quantile } from "./stats.js"

/** The kinds of change measured. */
export const changes = ["scaleUp", "delete", "crash"] as const
export type Change = (typeof changes)[number]

/** Every measurement of one change at one interval, in ms. */
export interface ConvergenceRun {
  readonly intervalMs: number
  readonly change: Change
  readonly samplesMs: ReadonlyArray<number>
}

const SHARDS = 64
const PODS = 3

/** Measures `trials` of each change at refresh interval `r` on a fresh simulated cluster. */
const measureAt = (
  r: Duration.Duration,
  trials: number
): Effect.Effect<ReadonlyArray<ConvergenceRun>, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const cluster = yield* SimulatedCluster.make(
      yield* ClusterDns.make(),
      EndpointsController.defaults(r, mkdtempSync(join(tmpdir(), "miroir-bench-convergence-")))
    )
    const converge = (what: string) => awaitConverged(cluster, SHARDS, r, what)
    const published = Effect.map(publishedLabels(cluster), (labels) => labels.length)
    const live = Effect.map(livePods(cluster), (pods) => pods.length)
    yield* cluster.scaleTo(PODS)
    yield* awaitPublished(cluster, (labels) => labels.length === PODS, "60 seconds")
    yield* converge("the first pods")
    const samples: Record<Change, Array<number>> = { scaleUp: [], delete: [], crash: [] }
    for (let trial = 0; trial < trials; trial++) {
      // Scale up by one: measured from the moment DNS publishes the new pod.
      const before = yield* published
      yield* cluster.scaleTo((yield* live) + 1)
      const added = yield* awaitPublished(cluster, (labels) => labels.length === before + 1, "60 seconds")
      samples.scaleUp.push((yield* converge("a scale-up")) - added)
      // Graceful delete (SIGTERM; the pod leaves DNS as it starts terminating).
      yield* cluster.deletePod()
      const deleted = yield* awaitPublished(cluster, (labels) => labels.length === before, "30 seconds")
      samples.delete.push((yield* converge("a delete")) - deleted)
      // Crash (SIGKILL): back to PODS - 1, then up again for the next trial.
      yield* cluster.scaleTo((yield* live) + 1)
      yield* awaitPublished(cluster, (labels) => labels.length === before + 1, "60 seconds")
      yield* converge("a scale-up before the crash")
      yield* cluster.killPod()
      const crashed = yield* awaitPublished(cluster, (labels) => labels.length === before, "30 seconds")
      samples.crash.push((yield* converge("a crash")) - crashed)
    }
    const intervalMs = Duration.toMillis(r)
    return changes.map((change) => ({ intervalMs, change, samplesMs: samples[change] }))
  }).pipe(Effect.scoped)

/** Runs the benchmark: 10 trials of each change at each interval (3 in quick mode). */
export const run = (quick: boolean): Effect.Effect<ReadonlyArray<ConvergenceRun>, Error> =>
  Effect.map(
    Effect.forEach([Duration.seconds(1), Duration.millis(250)], (r) => measureAt(r, quick ? 3 : 10)),
    (runs) => runs.flat()
  ).pipe(Effect.provide(Client.layerFetch))

/** p50 and max of a run, and their ratios to R. */
export const summarize = (run: ConvergenceRun) => {
  const p50 = quantile(run.samplesMs, 0.5)
  const max = Math.max(...run.samplesMs)
  return { p50, max, p50Ratio: p50 / run.intervalMs, maxRatio: max / run.intervalMs }
}
