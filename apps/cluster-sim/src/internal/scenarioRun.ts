/**
 * A scenario run in progress: what it records (events, checks, samples, criterion 4 at each step) and
 * what every step uses to wait and to measure. The steps (scenarioSteps.ts) only act on the cluster and
 * call these.
 */
import type * as Client from "@miroir/pod-api/Client"
import { Duration, Effect, Fiber, Schedule } from "effect"
import { type Cluster, publishedLabels } from "../Cluster.js"
import { awaitConverged, observe, type PodView } from "../Observer.js"
import type { Check, Event, RunResult, Sample } from "../RunResult.js"

/** What a run needs to know of its scenario (the scenario's options but which steps run). */
export interface RunOptions {
  readonly pods: number
  readonly refreshInterval: Duration.Duration
  readonly shards: number
  /** Called with the latest views every sample, with the labels DNS publishes, e.g. to draw the live table. */
  readonly onViews?: (
    views: ReadonlyArray<PodView>,
    events: ReadonlyArray<Event>,
    published: ReadonlyArray<string>
  ) => void
  /**
   * Called after each step once the pods converged, with the labels DNS publishes: the acceptance
   * suite checks the metrics through Prometheus there. A failure fails the run.
   */
  readonly afterStep?: (step: string, published: ReadonlyArray<string>) => Effect.Effect<void, Error>
}

/** The run's record and tools. */
export interface ScenarioRun {
  readonly cluster: Cluster
  readonly options: RunOptions
  /** R, in ms: the bounds are multiples of it. */
  readonly r: number
  /** How long pods may take to start: about a second of CPU each, on two cores here. */
  readonly startTimeout: Duration.Duration
  /** How often the pods are sampled. */
  readonly sampleInterval: Duration.Duration
  readonly event: (label: string) => Effect.Effect<void>
  readonly check: (
    name: string,
    passed: boolean,
    detail: string,
    measuredMs?: number,
    boundMs?: number
  ) => Effect.Effect<void>
  /** Succeeds with the time every published pod showed the same, complete set and a disjoint cover. */
  readonly awaitConvergence: (what: string) => Effect.Effect<number, Error, Client.PodClient>
  /** Criterion 4 at `step`: every published pod's miroir_peer_pod_count equals the ready replicas. */
  readonly checkPodCount: (step: string) => Effect.Effect<void, Error, Client.PodClient>
  /** Whether criterion 4 held at every step so far, and at how many steps it was checked. */
  readonly podCountSteps: () => { readonly matched: number; readonly checked: number }
  /** Stops sampling and returns what the run produced. */
  readonly finish: Effect.Effect<RunResult>
}

/** Every 100 ms, less often for large clusters so as not to load them. */
const sampleIntervalFor = (pods: number) => Duration.millis(Math.max(100, 10 * pods))

/** Starts a run on `cluster`: its record, and a fiber sampling the pods' views until {@link ScenarioRun.finish}. */
export const start = (
  cluster: Cluster,
  options: RunOptions
): Effect.Effect<ScenarioRun, never, Client.PodClient> =>
  Effect.gen(function*() {
    const r = Duration.toMillis(options.refreshInterval)
    const startedAt = Date.now()
    const events: Array<Event> = []
    const samples: Array<Sample> = []
    const checks: Array<Check> = []
    const podCountMatches: Array<boolean> = []
    const sampleInterval = sampleIntervalFor(options.pods)
    const event = (label: string) => Effect.sync(() => void events.push({ at: Date.now(), label }))

    const sampler = yield* Effect.all([observe(cluster, options.shards), publishedLabels(cluster)]).pipe(
      Effect.tap(([views, published]) =>
        Effect.sync(() => {
          const at = Date.now()
          for (const view of views) {
            if (view.reachable) samples.push({ at, pod: view.pod.name, peers: view.peers.length })
          }
          options.onViews?.(views, events, published)
        })
      ),
      Effect.repeat(Schedule.spaced(sampleInterval)),
      Effect.forkChild
    )

    const checkPodCount = (step: string) =>
      Effect.gen(function*() {
        const published = yield* publishedLabels(cluster)
        const views = (yield* observe(cluster, options.shards, true)).filter((view) =>
          published.includes(view.pod.label)
        )
        const wrong = views.filter((view) => view.podCountMetric !== published.length)
        podCountMatches.push(wrong.length === 0)
        if (wrong.length > 0) {
          yield* event(`${step}: miroir_peer_pod_count wrong on ${wrong.map((view) => view.pod.name).join(", ")}`)
        }
        if (options.afterStep !== undefined) yield* options.afterStep(step, published)
      })

    return {
      cluster,
      options,
      r,
      startTimeout: Duration.seconds(Math.max(60, 3 * (options.pods + 2))),
      sampleInterval,
      event,
      check: (name, passed, detail, measuredMs, boundMs) =>
        Effect.sync(() => void checks.push({ name, passed, detail, measuredMs, boundMs })),
      awaitConvergence: (what) => awaitConverged(cluster, options.shards, options.refreshInterval, what),
      checkPodCount,
      podCountSteps: () => ({ matched: podCountMatches.filter(Boolean).length, checked: podCountMatches.length }),
      finish: Effect.map(
        Fiber.interrupt(sampler),
        () => ({ refreshIntervalMs: r, startedAt, finishedAt: Date.now(), checks, events, samples })
      )
    }
  })
