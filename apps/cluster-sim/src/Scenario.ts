/**
 * The default scenario and its acceptance checks (the seed's four criteria, with the refresh interval
 * R compressed): 3 pods, scale to 5, kill one, delete one, a DNS outage of 3R with a pod joining during
 * it, and recovery. Every step measures, from the DNS change, how long until every published pod shows
 * the new set and they own a disjoint cover of the shards. It drives any {@link Cluster}: the simulator
 * or real Kubernetes components.
 */
import type * as Client from "@miroir/pod-api/Client"
import { Duration, Effect, Fiber, Ref, Schedule, SubscriptionRef } from "effect"
import { awaitPublished, awaitSettled, type Cluster, livePods, publishedLabels } from "./Cluster.js"
import { awaitConverged, awaitDropped, observe, type PodView } from "./Observer.js"

/** One acceptance check. */
export interface Check {
  readonly name: string
  /** What was measured, in ms, when it is a time. */
  readonly measuredMs: number | undefined
  /** The bound it must stay within, in ms. */
  readonly boundMs: number | undefined
  readonly passed: boolean
  readonly detail: string
}

/** Something that happened, for the timeline. */
export interface Event {
  readonly at: number
  readonly label: string
}

/** One pod's peer count at one moment, for the timeline chart. */
export interface Sample {
  readonly at: number
  readonly pod: string
  readonly peers: number
}

/** What a run produced. */
export interface RunResult {
  readonly refreshIntervalMs: number
  readonly startedAt: number
  readonly finishedAt: number
  readonly checks: ReadonlyArray<Check>
  readonly events: ReadonlyArray<Event>
  readonly samples: ReadonlyArray<Sample>
}

/** How the scenario runs. */
export interface ScenarioOptions {
  readonly pods: number
  readonly refreshInterval: Duration.Duration
  readonly shards: number
  /**
   * Whether the default scenario runs the DNS outage step (through {@link Cluster.setDnsOutage}) and its
   * two checks; default true. A cluster whose DNS outage is tested separately turns it off.
   */
  readonly outage?: boolean
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

/** The scenarios the simulator knows. */
export const scenarios = ["default", "steady"] as const
/** One of {@link scenarios}: `default` runs every step, `steady` only starts the pods. */
export type ScenarioName = (typeof scenarios)[number]

/** How often the pods are sampled: every 100 ms, less often for large clusters so as not to load them. */
const sampleInterval = (pods: number) => Duration.millis(Math.max(100, 10 * pods))

/** Runs a scenario on a running cluster, reading the pods through the API's client. */
export const run = (
  name: ScenarioName,
  cluster: Cluster,
  options: ScenarioOptions
): Effect.Effect<RunResult, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const r = Duration.toMillis(options.refreshInterval)
    const startedAt = Date.now()
    const events: Array<Event> = []
    const samples: Array<Sample> = []
    const checks: Array<Check> = []
    const event = (label: string) => Effect.sync(() => void events.push({ at: Date.now(), label }))
    const check = (name: string, passed: boolean, detail: string, measuredMs?: number, boundMs?: number) =>
      Effect.sync(() => void checks.push({ name, passed, detail, measuredMs, boundMs }))

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
      Effect.repeat(Schedule.spaced(sampleInterval(options.pods))),
      Effect.forkChild
    )

    const awaitConvergence = (what: string) => awaitConverged(cluster, options.shards, options.refreshInterval, what)

    const podCountMatches: Array<boolean> = []
    /** Criterion 4 at this step: every published pod's miroir_peer_pod_count equals the ready replicas. */
    const checkPodCountMetric = (step: string) =>
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

    /** Pods start in about a second of CPU each, on two cores here: allow for many. */
    const startTimeout = Duration.seconds(Math.max(60, 3 * (options.pods + 2)))
    const startPods = Effect.gen(function*() {
      yield* event(`start ${options.pods} pods`)
      yield* cluster.scaleTo(options.pods)
      yield* awaitPublished(cluster, (labels) => labels.length === options.pods, startTimeout)
      const lastReady = Math.max(...(yield* livePods(cluster)).map((pod) => pod.readyAt ?? Date.now()))
      yield* event(`${options.pods} pods ready`)
      const at = yield* awaitConvergence(`${options.pods} pods to see each other`)
      yield* check(
        `1. ${options.pods} pods: each pod sees all ${options.pods} within 2R of the last becoming ready`,
        at - lastReady <= 2 * r,
        `${at - lastReady} ms after the last pod became ready`,
        at - lastReady,
        2 * r
      )
      yield* checkPodCountMetric("start")
    })

    if (name === "steady") {
      yield* startPods
    } else {
      yield* startPods

      // 2. Scale up by two.
      const scaled = options.pods + 2
      yield* event(`scale to ${scaled}`)
      yield* cluster.scaleTo(scaled)
      const published = yield* awaitPublished(cluster, (labels) => labels.length === scaled, startTimeout)
      yield* event(`${scaled} pods in DNS`)
      const seen = yield* awaitConvergence(`${scaled} pods to see each other`)
      yield* check(
        `2. scale ${options.pods}→${scaled}: the new peers are discovered by every pod within 2R`,
        seen - published <= 2 * r,
        `${seen - published} ms after DNS published them`,
        seen - published,
        2 * r
      )
      yield* checkPodCountMetric("scale-up")

      // 3. A crash (SIGKILL), then a graceful delete (SIGTERM; the Eviction API on Kubernetes). Measured
      // per victim: until no survivor lists it. Then the cluster settles (on Kubernetes the crashed pod
      // restarts and the evicted one is replaced) before the next step.
      for (
        const [label, criterion, act] of [
          [
            "kill",
            "3. pod eviction (SIGKILL): the crashed pod drops from every survivor's set within 2R of leaving DNS",
            cluster.killPod()
          ],
          [
            "delete",
            "graceful delete (SIGTERM): the pod drops from every survivor's set within 2R of leaving DNS",
            cluster.deletePod()
          ]
        ] as const
      ) {
        const victim = yield* act
        const victimLabel = (yield* SubscriptionRef.get(cluster.pods)).find((pod) => pod.name === victim)?.label ??
          victim
        yield* event(`${label} ${victim}`)
        const removed = yield* awaitPublished(cluster, (labels) => !labels.includes(victimLabel), "30 seconds")
        const dropped = yield* awaitDropped(
          cluster,
          victimLabel,
          options.refreshInterval,
          `the survivors to drop ${victim}`
        )
        yield* check(
          criterion,
          dropped - removed <= 2 * r,
          `${dropped - removed} ms after it left DNS`,
          Math.max(0, dropped - removed),
          2 * r
        )
        yield* awaitSettled(cluster, startTimeout)
        yield* awaitConvergence(`the pods to agree after the ${label}`)
        yield* checkPodCountMetric(label)
      }

      if (options.outage ?? true) {
        // Outage of 3R; a pod joins meanwhile. The sets must stay as they were, then follow on recovery.
        const before = new Map(
          (yield* observe(cluster, options.shards)).map((view) => [view.pod.name, view.peers.join()])
        )
        yield* cluster.setDnsOutage(true)
        yield* event("DNS outage")
        const joining = (yield* livePods(cluster)).length + 1
        yield* cluster.scaleTo(joining)
        const seen = yield* Ref.make({ intact: true, staleSeen: false })
        yield* observe(cluster, options.shards).pipe(
          Effect.flatMap((views) =>
            Ref.update(seen, ({ intact, staleSeen }) => {
              const known = views.filter((view) => before.has(view.pod.name))
              return {
                intact: intact &&
                  known.every((view) => !view.reachable || view.peers.join() === before.get(view.pod.name)),
                staleSeen: staleSeen || known.some((view) => view.stale)
              }
            })
          ),
          Effect.repeat(
            Schedule.spaced(sampleInterval(options.pods)).pipe(
              Schedule.upTo({ duration: Duration.times(options.refreshInterval, 3) })
            )
          )
        )
        const { intact, staleSeen } = yield* Ref.get(seen)
        yield* check(
          "DNS outage of 3R: every set stays intact (marked stale, never shrunk)",
          intact && staleSeen,
          intact
            ? (staleSeen ? "no set changed; pods reported stale" : "no pod reported stale")
            : "a set changed during the outage",
          undefined,
          undefined
        )
        yield* awaitPublished(cluster, (labels) => labels.length === joining, startTimeout)
        yield* cluster.setDnsOutage(false)
        const recovered = Date.now()
        yield* event("DNS back")
        const followed = yield* awaitConvergence("the pods to follow DNS after the outage")
        yield* check(
          "after the outage: the sets follow DNS (a pod that joined meanwhile) within R of recovery",
          followed - recovered <= r,
          `${followed - recovered} ms after DNS answered again`,
          followed - recovered,
          r
        )
        yield* checkPodCountMetric("recovery")
      }
    }

    yield* check(
      "4. miroir_peer_pod_count equals the ready replicas on every pod after each step",
      podCountMatches.every(Boolean),
      `${podCountMatches.filter(Boolean).length} of ${podCountMatches.length} steps matched on every pod`
    )
    // One more interval of samples, so that the chart shows where the run settled.
    yield* Effect.sleep(options.refreshInterval)
    yield* Fiber.interrupt(sampler)
    return { refreshIntervalMs: r, startedAt, finishedAt: Date.now(), checks, events, samples }
  })
