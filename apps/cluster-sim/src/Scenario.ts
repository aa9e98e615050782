/**
 * The default scenario and its acceptance checks (the seed's four criteria, with the refresh interval
 * R compressed): 3 pods, scale to 5, kill one, delete one, a DNS outage of 3R with a pod joining during
 * it, and recovery. Every step measures, from the DNS change, how long until every published pod shows
 * the new set and they own a disjoint cover of the shards. It drives any {@link Cluster}: the simulator
 * or real Kubernetes components.
 */
import type * as Client from "@miroir/pod-api/Client"
import { Effect } from "effect"
import type { Cluster } from "./Cluster.js"
import * as ScenarioRun from "./internal/scenarioRun.js"
import { departure, dnsOutage, podCountCriterion, scaleUp, startPods } from "./internal/scenarioSteps.js"
import type { RunResult } from "./RunResult.js"

/** How the scenario runs. */
export interface ScenarioOptions extends ScenarioRun.RunOptions {
  /**
   * Whether the default scenario runs the DNS outage step (through {@link Cluster.setDnsOutage}) and its
   * two checks; default true. A cluster whose DNS outage is tested separately turns it off.
   */
  readonly outage?: boolean
}

/** The scenarios the simulator knows. */
export const scenarios = ["default", "steady"] as const
/** One of {@link scenarios}: `default` runs every step, `steady` only starts the pods. */
export type ScenarioName = (typeof scenarios)[number]

/** Runs a scenario on a running cluster, reading the pods through the API's client. */
export const run = (
  name: ScenarioName,
  cluster: Cluster,
  options: ScenarioOptions
): Effect.Effect<RunResult, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const current = yield* ScenarioRun.start(cluster, options)
    yield* startPods(current)
    if (name === "default") {
      yield* scaleUp(current)
      yield* departure(current, "kill")
      yield* departure(current, "delete")
      if (options.outage ?? true) yield* dnsOutage(current)
    }
    yield* podCountCriterion(current)
    // One more interval of samples, so that the chart shows where the run settled.
    yield* Effect.sleep(options.refreshInterval)
    return yield* current.finish
  })
