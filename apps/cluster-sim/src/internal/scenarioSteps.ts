/**
 * The steps of the default scenario, each acting on the cluster and checking one of the seed's criteria
 * through the run's record (scenarioRun.ts): start, scale up, a crash and a graceful delete, a DNS outage,
 * and criterion 4 over all of them.
 */
import { Duration, Effect, Ref, Schedule, SubscriptionRef } from "effect"
import { awaitPublished, awaitSettled, awaitValue, isLive, livePods } from "../Cluster.js"
import { awaitDropped, observe } from "../Observer.js"
import type { ScenarioRun } from "./scenarioRun.js"

/** 1. Starts the pods; each must see all of them within 2R of the last becoming ready. */
export const startPods = (run: ScenarioRun) =>
  Effect.gen(function*() {
    const { cluster, options, r } = run
    yield* run.event(`start ${options.pods} pods`)
    yield* cluster.scaleTo(options.pods)
    yield* awaitPublished(cluster, (labels) => labels.length === options.pods, run.startTimeout)
    const lastReady = Math.max(...(yield* livePods(cluster)).map((pod) => pod.readyAt ?? Date.now()))
    yield* run.event(`${options.pods} pods ready`)
    const at = yield* run.awaitConvergence(`${options.pods} pods to see each other`)
    yield* run.check(
      `1. ${options.pods} pods: each pod sees all ${options.pods} within 2R of the last becoming ready`,
      at - lastReady <= 2 * r,
      `${at - lastReady} ms after the last pod became ready`,
      at - lastReady,
      2 * r
    )
    yield* run.checkPodCount("start")
  })

/** 2. Scales up by two; every pod must discover the new peers within 2R of DNS publishing them. */
export const scaleUp = (run: ScenarioRun) =>
  Effect.gen(function*() {
    const { cluster, options, r } = run
    const scaled = options.pods + 2
    yield* run.event(`scale to ${scaled}`)
    yield* cluster.scaleTo(scaled)
    const published = yield* awaitPublished(cluster, (labels) => labels.length === scaled, run.startTimeout)
    yield* run.event(`${scaled} pods in DNS`)
    const seen = yield* run.awaitConvergence(`${scaled} pods to see each other`)
    yield* run.check(
      `2. scale ${options.pods}→${scaled}: the new peers are discovered by every pod within 2R`,
      seen - published <= 2 * r,
      `${seen - published} ms after DNS published them`,
      seen - published,
      2 * r
    )
    yield* run.checkPodCount("scale-up")
  })

/** How a pod leaves: a crash (SIGKILL) or a graceful delete (SIGTERM; the Eviction API on Kubernetes). */
export type Departure = "kill" | "delete"

const departureCriterion: Record<Departure, string> = {
  kill: "3. pod eviction (SIGKILL): the crashed pod drops from every survivor's set within 2R of leaving DNS",
  delete: "graceful delete (SIGTERM): the pod drops from every survivor's set within 2R of leaving DNS"
}

/**
 * 3. A pod leaves as `how` says; measured until no survivor lists it, from when DNS dropped it. Then the
 * cluster settles (on Kubernetes the crashed pod restarts and the evicted one is replaced).
 */
export const departure = (run: ScenarioRun, how: Departure) =>
  Effect.gen(function*() {
    const { cluster, options, r } = run
    const liveBefore = (yield* livePods(cluster)).length
    const victim = yield* (how === "kill" ? cluster.killPod() : cluster.deletePod())
    const victimLabel = (yield* SubscriptionRef.get(cluster.pods)).find((pod) => pod.name === victim)?.label ?? victim
    yield* run.event(`${how} ${victim}`)
    const removed = yield* awaitPublished(cluster, (labels) => !labels.includes(victimLabel), "30 seconds")
    const dropped = yield* awaitDropped(
      cluster,
      victimLabel,
      options.refreshInterval,
      `the survivors to drop ${victim}`
    )
    yield* run.check(
      departureCriterion[how],
      dropped - removed <= 2 * r,
      `${dropped - removed} ms after it left DNS`,
      Math.max(0, dropped - removed),
      2 * r
    )
    // The replacement, where the cluster makes one: settled means it is ready too, not only the survivors
    // (seen on Kubernetes: the pod count checked against the survivors while the replacement joined).
    if (cluster.replacesDeparted) {
      yield* awaitValue(
        cluster.pods,
        (pods) => pods.filter(isLive).length >= liveBefore,
        run.startTimeout,
        `${victim}'s replacement`
      )
    }
    yield* awaitSettled(cluster, run.startTimeout)
    yield* run.awaitConvergence(`the pods to agree after the ${how}`)
    yield* run.checkPodCount(how)
  })

/**
 * A DNS outage of 3R while a pod joins: every set must stay as it was (marked stale, never shrunk), then
 * follow DNS within R of its recovery.
 */
export const dnsOutage = (run: ScenarioRun) =>
  Effect.gen(function*() {
    const { cluster, options, r } = run
    const before = new Map((yield* observe(cluster, options.shards)).map((view) => [view.pod.name, view.peers.join()]))
    yield* cluster.setDnsOutage(true)
    yield* run.event("DNS outage")
    const joining = (yield* livePods(cluster)).length + 1
    yield* cluster.scaleTo(joining)
    const seen = yield* Ref.make({ intact: true, staleSeen: false })
    yield* observe(cluster, options.shards).pipe(
      Effect.flatMap((views) =>
        Ref.update(seen, ({ intact, staleSeen }) => {
          const known = views.filter((view) => before.has(view.pod.name))
          return {
            intact: intact && known.every((view) => !view.reachable || view.peers.join() === before.get(view.pod.name)),
            staleSeen: staleSeen || known.some((view) => view.stale)
          }
        })
      ),
      Effect.repeat(
        Schedule.spaced(run.sampleInterval).pipe(
          Schedule.upTo({ duration: Duration.times(options.refreshInterval, 3) })
        )
      )
    )
    const { intact, staleSeen } = yield* Ref.get(seen)
    yield* run.check(
      "DNS outage of 3R: every set stays intact (marked stale, never shrunk)",
      intact && staleSeen,
      intact
        ? (staleSeen ? "no set changed; pods reported stale" : "no pod reported stale")
        : "a set changed during the outage",
      undefined,
      undefined
    )
    yield* awaitPublished(cluster, (labels) => labels.length === joining, run.startTimeout)
    yield* cluster.setDnsOutage(false)
    const recovered = Date.now()
    yield* run.event("DNS back")
    const followed = yield* run.awaitConvergence("the pods to follow DNS after the outage")
    yield* run.check(
      "after the outage: the sets follow DNS (a pod that joined meanwhile) within R of recovery",
      followed - recovered <= r,
      `${followed - recovered} ms after DNS answered again`,
      followed - recovered,
      r
    )
    yield* run.checkPodCount("recovery")
  })

/** 4. Criterion 4 over the whole run: miroir_peer_pod_count matched the ready replicas at every step. */
export const podCountCriterion = (run: ScenarioRun) => {
  const { checked, matched } = run.podCountSteps()
  return run.check(
    "4. miroir_peer_pod_count equals the ready replicas on every pod after each step",
    matched === checked,
    `${matched} of ${checked} steps matched on every pod`
  )
}
