/**
 * The seed's acceptance on real Kubernetes: kube-apiserver, etcd, kube-controller-manager and
 * kube-scheduler built from k8s.io/kubernetes v1.37, a real node (the kubelet v1.37 with containerd 2 and
 * runc, kube-proxy in nftables mode, CNI bridge: pods in network namespaces of their own with addresses of
 * 10.244.N.0/24), CoreDNS with kubeadm's Corefile, Miroir installed from the image built from the
 * Dockerfile (by digest) with `helm install` of the chart by Helm 4 (server-side apply), rolled by
 * `helm upgrade` and back by `helm rollback`, checked by `helm test`, and a real Prometheus scraping the
 * pods and the real kube-state-metrics with the chart's alert rules loaded.
 *
 * R is short (4 s) and set through the chart's values. kubeadm's Corefile caches no answer of cluster.local
 * (`cache 30 { disable success cluster.local; disable denial cluster.local }`), so a leaver's shards wait up
 * to 1.2R plus the EndpointSlice's way to CoreDNS before the survivors take them over
 * (README, "Meeting real Kubernetes"). The components come from scripts/install-test-deps.sh; without
 * them this suite fails and says how to build them.
 *
 * The kubelet's own probes, preStop hooks, SIGTERM, grace periods, Downward API and restarts decide. The
 * chart's ownership audit (every 3R) and refresh hints run as installed: the pods reach each other at
 * their pod IPs over the node's bridge. After the rollout the suite checks that they worked: the
 * survivors received hints, and an audit reached every peer and found nothing amiss.
 *
 * Every graceful deletion (the eviction, the scale-down, each pod the rolling update and the rollback
 * replace) runs the chart's preStop hook, an exec of `node /app/miroir.mjs leave --delay 1s` in the
 * container: the suite checks, from each pod's log (`kubectl logs`) and the kubelet's events, that each
 * hook reached the pod's admin listener, that none failed (no FailedPreStopHook event), and that pods left
 * through it (their `left` hints went out as DNS dropped them, before SIGTERM).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Client from "@miroir/pod-api/Client"
import { type Prometheus, startPrometheus } from "@miroir/test-support/prometheus"
import { Duration, Effect, Option, Schedule, Stream, SubscriptionRef } from "effect"
import { describe, expect, it } from "vitest"
import { awaitSettled, type Cluster, isLive, livePods } from "../../src/Cluster.js"
import * as Image from "../../src/kube/Image.js"
import * as KubeCluster from "../../src/kube/KubeCluster.js"
import * as KubeStateMetrics from "../../src/kube/KubeStateMetrics.js"
import { METRICS_PORT } from "../../src/Cluster.js"
import { ask, awaitConverged } from "../../src/Observer.js"
import * as Report from "../../src/Report.js"
import * as Scenario from "../../src/Scenario.js"
import * as ShardGaps from "../../src/ShardGaps.js"
import { chartRules } from "./support/chartRules.js"

const R = Duration.seconds(4)
const r = Duration.toMillis(R)
const SHARDS = 64
/**
 * The coarsest sampling of the ownership during a roll at which its bound (2R) still means something: a
 * sample asks every pod with a 1 s timeout, every 200 ms; a roll may be over in a few samples, so the
 * count of samples says nothing, the time between them does.
 */
const SAMPLED_EVERY_MS = 3 * r / 4
const RELEASE = "miroir"
const NAMESPACE = "default"

const promise = <A>(what: () => Promise<A>) =>
  Effect.tryPromise({ try: what, catch: (error) => (error instanceof Error ? error : new Error(String(error))) })

/**
 * Runs a PromQL query until `done` holds of its samples, within `timeout`; the error of a timeout quotes the
 * last samples, so that a failure says which pods were missing or what they reported.
 */
const awaitQuery = (
  prometheus: Prometheus,
  promql: string,
  done: (samples: ReadonlyArray<{ value: number }>) => boolean,
  timeout: Duration.Input
) => {
  let last: unknown = "no answer yet"
  return promise(() => prometheus.query(promql)).pipe(
    Effect.tap((samples) => Effect.sync(() => void (last = samples))),
    Effect.repeat({ schedule: Schedule.spaced(Duration.millis(250)), until: done }),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(new Error(`timed out waiting for ${promql}; last samples: ${JSON.stringify(last)}`))
    })
  )
}

/** Prometheus's targets follow the live pods, labelled as a ServiceMonitor would label them. */
const followPods = (prometheus: Prometheus, cluster: KubeCluster.KubeCluster, ksmTarget: string) =>
  SubscriptionRef.changes(cluster.pods).pipe(
    Stream.runForEach((pods) =>
      promise(() =>
        prometheus.setTargetGroups([
          ...pods.filter(isLive).map((pod) => ({
            targets: [`${pod.ip}:${METRICS_PORT}`],
            labels: {
              job: cluster.deployment,
              namespace: NAMESPACE,
              service: cluster.deployment,
              pod: pod.name,
              container: "miroir",
              endpoint: "metrics"
            }
          })),
          { targets: [ksmTarget], labels: { job: "kube-state-metrics" } }
        ])
      )
    ),
    Effect.forkScoped
  )

/** Criterion 4 with kube-state-metrics: on every pod miroir_peer_pod_count equals the Deployment's ready replicas. */
const criterion4 =
  (prometheus: Prometheus, cluster: KubeCluster.KubeCluster) => (step: string, published: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const ready = published.length
      const replicasReady =
        `kube_deployment_status_replicas_ready{namespace="${NAMESPACE}", deployment="${cluster.deployment}"}`
      const podCount = `(miroir_peer_pod_count{namespace="${NAMESPACE}"} and on(instance) up == 1)`
      const atStep = Effect.mapError((error: Error) =>
        new Error(`after ${step} (${ready} published): ${error.message}`)
      )
      yield* awaitQuery(prometheus, replicasReady, (s) => s.length === 1 && s[0]!.value === ready, "30 seconds").pipe(
        atStep
      )
      yield* awaitQuery(
        prometheus,
        podCount,
        (s) => s.length === ready && s.every((sample) => sample.value === ready),
        "30 seconds"
      ).pipe(atStep)
      const mismatched = yield* promise(() =>
        prometheus.query(`${podCount} != on(namespace) group_left() ${replicasReady}`)
      )
      if (mismatched.length > 0) {
        yield* Effect.fail(
          new Error(`after ${step}: miroir_peer_pod_count differs from ${replicasReady} on ${mismatched.length} pods`)
        )
      }
    })

/** What a rolling update or a rollback measured. */
interface Rollout {
  readonly gaps: ShardGaps.GapReport
  /** The Deployment's replicas once it rolled. */
  readonly replicas: number
  /** From the rollout's completion to every pod agreeing, in ms. */
  readonly agreedAfterMs: number
}

/** `roll` (which succeeds with the time the rollout completed), measured while it rolls and until every pod agrees. */
const measured = (cluster: KubeCluster.KubeCluster, what: string, roll: Effect.Effect<number, Error>) =>
  Effect.gen(function*() {
    const stopSampling = yield* ShardGaps.sample(cluster, SHARDS, "200 millis")
    const completed = yield* roll
    yield* awaitSettled(cluster, "60 seconds")
    const agreed = yield* awaitConverged(cluster, SHARDS, R, `every pod to agree after the ${what}`)
    const gaps = yield* stopSampling
    const replicas = (yield* livePods(cluster)).length
    return { gaps, replicas, agreedAfterMs: Math.max(0, agreed - completed) } satisfies Rollout
  })

/**
 * `helm upgrade` that changes the pod template (revision 2), with the replicas as they are now: the values
 * file still says 3, and kubectl scale, which set them, owns the field (Helm 4 would fail on the conflict).
 */
const rollingUpdate = (cluster: KubeCluster.KubeCluster) =>
  Effect.flatMap(livePods(cluster), (pods) =>
    measured(
      cluster,
      "rolling update",
      cluster.rollOut({ set: [`replicaCount=${pods.length}`], timeout: "180s" })
    ))

/**
 * `helm rollback` to revision 1, the install: its pod template (without the rolling update's annotation) and
 * its 3 replicas, so the rollback is a rolling update and a scale-down at once. Helm 4 rolls back with
 * server-side apply, like the install; kubectl scale still co-owns `.spec.replicas`, so taking the install's
 * count back needs `--force-conflicts` (Helm 3 overwrote it silently; deploy/test/apiserver.test.ts pins both).
 */
const rollBack = (cluster: KubeCluster.KubeCluster) =>
  measured(cluster, "rollback", cluster.rollBack({ revision: 1, args: ["--force-conflicts"], timeout: "180s" }))

/** The revisions of the release as `helm history` lists them: number and description. */
const history = (cluster: KubeCluster.KubeCluster) =>
  Effect.flatMap(
    cluster.helm(["history", RELEASE, "--namespace", NAMESPACE, "--output", "json"]),
    (json) =>
      Effect.try({
        try: () =>
          (JSON.parse(json) as ReadonlyArray<{ revision: number; description: string }>).map((r) =>
            `${r.revision} ${r.description}`
          ),
        catch: (error) => new Error(`helm history: ${String(error)}`)
      })
  )

/**
 * The first audit that finished at `since` or later, on whichever pod audits, within `timeout`: with
 * audits every 3R, two intervals and a margin are enough.
 */
const auditAfter = (cluster: KubeCluster.KubeCluster, since: number, timeout: Duration.Input) =>
  Effect.gen(function*() {
    const pods = yield* livePods(cluster)
    const bodies = yield* Effect.forEach(pods, (pod) => Effect.option(ask(pod, (api) => api.ownership.audit())), {
      concurrency: "unbounded"
    })
    const found = Option.firstSomeOf(
      bodies.map((body) =>
        Option.flatMap(body, (b) => Option.fromNullishOr(b.last)).pipe(
          Option.filter((last) => Date.parse(last.at) >= since)
        )
      )
    )
    return yield* Option.match(found, { onNone: () => Effect.fail("none yet" as const), onSome: Effect.succeed })
  }).pipe(
    Effect.retry(Schedule.spaced(Duration.millis(500))),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new Error(`no pod finished an ownership audit within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)
        )
    })
  )

/** The alerts of the chart that are firing now. */
const firing = (prometheus: Prometheus) =>
  Effect.map(
    promise(() => prometheus.alerts()),
    (alerts) => alerts.filter((alert) => alert.state === "firing").map((alert) => alert.labels.alertname ?? "?")
  )

describe("acceptance on real Kubernetes (control plane, a real node running the image, CoreDNS, Helm, kube-state-metrics)", () => {
  it(
    "meets the seed's criteria, rolls out without orphaned shards, and its alerts stay silent until discovery breaks",
    async () => {
      const folder = mkdtempSync(join(tmpdir(), "miroir-kube-"))
      const outcome = await Effect.gen(function*() {
        const image = yield* Image.build()
        const makeStarted = Date.now()
        const cluster = yield* KubeCluster.make({
          folder,
          release: RELEASE,
          namespace: NAMESPACE,
          replicas: 3,
          refreshInterval: R,
          image
        })
        const clusterMs = Date.now() - makeStarted
        const ksm = yield* KubeStateMetrics.make(folder, cluster.controlPlane.kubeconfig)
        const rules = yield* chartRules(cluster, RELEASE, NAMESPACE, folder)
        const prometheus = yield* Effect.acquireRelease(
          promise(() => startPrometheus({ scrapeInterval: "500ms", ruleFiles: [rules.file] })),
          (p) => Effect.promise(() => p.stop())
        )
        yield* followPods(prometheus, cluster, ksm.target)

        const result = yield* Scenario.run("default", cluster as Cluster, {
          pods: 3,
          refreshInterval: R,
          shards: SHARDS,
          afterStep: criterion4(prometheus, cluster)
        })
        const rollout = yield* rollingUpdate(cluster)
        const rollback = yield* rollBack(cluster)
        const revisions = yield* history(cluster)
        // `helm test`: the chart's test pod (the same image) asks the release's Service (a ClusterIP,
        // through kube-proxy) for /peers until the answering pod lists every replica.
        yield* awaitSettled(cluster, "60 seconds")
        const helmTestStarted = Date.now()
        const helmTest = yield* cluster.helm(["test", RELEASE, "--namespace", NAMESPACE, "--timeout", "180s"])
        const helmTestMs = Date.now() - helmTestStarted

        // Steady state: the chart's rules are silent. Then CoreDNS stops for longer than the stale rule's window.
        yield* awaitSettled(cluster, "60 seconds")
        // Hints and the audit reached their peers at their pod IPs: the pods that joined early in the
        // rollout were hinted by the later ones (counted by the receivers, scraped by Prometheus).
        const settled = Date.now()
        const hintsQuery = `sum(miroir_peer_discovery_hints_total{namespace="${NAMESPACE}"})`
        yield* awaitQuery(prometheus, hintsQuery, (s) => s.length === 1 && s[0]!.value > 0, "10 seconds").pipe(
          Effect.ignore
        )
        const hintsReceived = (yield* promise(() => prometheus.query(hintsQuery)))[0]?.value ?? 0
        const audit = yield* auditAfter(cluster, settled, Duration.sum(Duration.times(R, 6), Duration.seconds(10)))
        const steadyFiring = yield* firing(prometheus)
        const stale = rules.rules.find((rule) => rule.alert === "MiroirPeerDiscoveryStale")
        if (stale === undefined) return yield* Effect.fail(new Error("the chart has no MiroirPeerDiscoveryStale rule"))
        const outageStarted = Date.now()
        yield* cluster.setDnsOutage(true)
        const fireBound = Duration.sum(Duration.sum(Duration.times(R, 3), stale.for), Duration.seconds(30))
        yield* firing(prometheus).pipe(
          Effect.repeat({
            schedule: Schedule.spaced(Duration.millis(500)),
            until: (names) => names.includes("MiroirPeerDiscoveryStale")
          }),
          Effect.timeoutOrElse({
            duration: fireBound,
            orElse: () =>
              Effect.fail(
                new Error(
                  `MiroirPeerDiscoveryStale did not fire within ${Duration.format(fireBound)} of stopping CoreDNS`
                )
              )
          })
        )
        const firedAfterMs = Date.now() - outageStarted
        yield* cluster.setDnsOutage(false)
        const preStops = yield* cluster.preStops
        const pods = (yield* livePods(cluster)).length
        return {
          result,
          helmTest,
          helmTestMs,
          clusterMs,
          rollout,
          rollback,
          revisions,
          hintsReceived,
          audit,
          steadyFiring,
          firedAfterMs,
          staleFor: stale.for,
          preStops,
          pods,
          description: cluster.description
        }
      }).pipe(Effect.scoped, Effect.provide(Client.layerFetch), Effect.runPromise)

      const {
        audit,
        clusterMs,
        firedAfterMs,
        helmTest,
        helmTestMs,
        hintsReceived,
        pods,
        preStops,
        result,
        revisions,
        rollback,
        rollout,
        staleFor,
        steadyFiring
      } = outcome
      const hooksFailed = preStops.filter((hook) => hook.failed !== undefined || !hook.requested)
      const hooksLeft = preStops.filter((hook) => hook.left).length
      const helmTestPassed = /Phase:\s+Succeeded/.test(helmTest)
      const report = [
        Report.render(result, { cluster: outcome.description, pods: 3, statefulSet: false }),
        `Cluster up (control plane, node Ready, image imported, \`helm install\`) in ${
          (clusterMs / 1000).toFixed(1)
        } s.`,
        "",
        "## Rolling update (helm upgrade), rollback (helm rollback) and alerts",
        "",
        "| result | check | measured | bound |",
        "| --- | --- | --- | --- |",
        `| ${
          rollout.agreedAfterMs <= 2 * r ? "PASS" : "FAIL"
        } | after the rollout of ${rollout.replicas} pods completes, every pod's set and ownership agree | ${
          (rollout.agreedAfterMs / 1000).toFixed(2)
        } s | ${(2 * r / 1000).toFixed(2)} s (2R) |`,
        `| ${
          rollout.gaps.longestUnownedMs <= 2 * r && rollout.gaps.longestBetweenSamplesMs <= SAMPLED_EVERY_MS
            ? "PASS"
            : "FAIL"
        } | longest time a shard had no owner during the rollout | ${
          (rollout.gaps.longestUnownedMs / 1000).toFixed(2)
        } s (${rollout.gaps.samples} samples, at most ${
          (rollout.gaps.longestBetweenSamplesMs / 1000).toFixed(2)
        } s apart) | ${(2 * r / 1000).toFixed(2)} s (2R) |`,
        `| — | longest time a shard had two owners; shard-seconds unowned / doubly owned | ${
          (rollout.gaps.longestMultiOwnedMs / 1000).toFixed(2)
        } s; ${rollout.gaps.unownedShardSeconds.toFixed(1)} / ${rollout.gaps.multiOwnedShardSeconds.toFixed(1)} | — |`,
        `| ${
          rollback.replicas === 3 && rollback.agreedAfterMs <= 2 * r ? "PASS" : "FAIL"
        } | after \`helm rollback\` to revision 1 (its pod template, ${rollback.replicas} of 3 replicas) completes, every pod's set and ownership agree | ${
          (rollback.agreedAfterMs / 1000).toFixed(2)
        } s | ${(2 * r / 1000).toFixed(2)} s (2R) |`,
        `| ${
          rollback.gaps.longestUnownedMs <= 2 * r && rollback.gaps.longestBetweenSamplesMs <= SAMPLED_EVERY_MS
            ? "PASS"
            : "FAIL"
        } | longest time a shard had no owner during the rollback | ${
          (rollback.gaps.longestUnownedMs / 1000).toFixed(2)
        } s (${rollback.gaps.samples} samples, at most ${
          (rollback.gaps.longestBetweenSamplesMs / 1000).toFixed(2)
        } s apart) | ${(2 * r / 1000).toFixed(2)} s (2R) |`,
        `| — | rollback: longest time a shard had two owners; shard-seconds unowned / doubly owned; revisions | ${
          (rollback.gaps.longestMultiOwnedMs / 1000).toFixed(2)
        } s; ${rollback.gaps.unownedShardSeconds.toFixed(1)} / ${rollback.gaps.multiOwnedShardSeconds.toFixed(1)}; ${
          revisions.join(", ")
        } | — |`,
        `| ${
          hintsReceived > 0 ? "PASS" : "FAIL"
        } | refresh hints reach the peers (at their pod IPs): received by the survivors | ${hintsReceived} hints | > 0 |`,
        `| ${
          audit.ok && audit.answered === audit.peersAsked ? "PASS" : "FAIL"
        } | the ownership audit after the rollout and the rollback reaches every peer and finds nothing amiss | ${audit.answered} of ${audit.peersAsked} answered; ${
          audit.ok ?
            "ok" :
            `unowned ${audit.unowned.count}, multi-owned ${audit.multiOwned.count}, unreachable ${
              audit.unreachable.peers.map((p) => `${p.peer}: ${p.reason}`).join("; ")
            }`
        } | all, ok |`,
        `| ${
          preStops.length >= rollout.replicas + 1 && hooksFailed.length === 0 && hooksLeft > 0 ? "PASS" : "FAIL"
        } | the kubelet runs the preStop exec (\`miroir leave --delay 1s\`) of every graceful deletion (eviction, scale-down, rolling update, rollback): it reaches the pod's admin listener, no FailedPreStopHook | ${preStops.length} pods, ${hooksFailed.length} failed (${
          hooksFailed.map((hook) => `${hook.pod}: ${hook.failed ?? "no leave request in its log"}`).join("; ") || "none"
        }), ${hooksLeft} left through it | ≥ ${rollout.replicas + 1}, none failed, some left |`,
        `| ${
          helmTestPassed ? "PASS" : "FAIL"
        } | \`helm test\`: the chart's test pod asks the Service's ClusterIP (kube-proxy) for /peers | ${
          (helmTestMs / 1000).toFixed(1)
        } s, ${helmTestPassed ? "Succeeded" : helmTest.trim().split("\n").join(" ")} | Succeeded |`,
        `| ${steadyFiring.length === 0 ? "PASS" : "FAIL"} | the chart's alerts in steady state (${pods} pods) | ${
          steadyFiring.length === 0 ? "none firing" : steadyFiring.join(", ")
        } | none |`,
        `| PASS | MiroirPeerDiscoveryStale fires with CoreDNS stopped | ${(firedAfterMs / 1000).toFixed(1)} s | ${
          Duration.format(Duration.sum(Duration.times(R, 3), staleFor))
        } + scrape and evaluation |`,
        ""
      ].join("\n")
      console.log(report)
      expect(result.checks.filter((check) => !check.passed), `${report}\nlogs: ${folder}`).toEqual([])
      expect(result.checks).toHaveLength(7)
      expect(rollout.agreedAfterMs, report).toBeLessThanOrEqual(2 * r)
      expect(rollout.gaps.longestUnownedMs, report).toBeLessThanOrEqual(2 * r)
      expect(rollout.gaps.samples, report).toBeGreaterThanOrEqual(3)
      expect(rollout.gaps.longestBetweenSamplesMs, report).toBeLessThanOrEqual(SAMPLED_EVERY_MS)
      expect(rollback.replicas, report).toBe(3)
      expect(rollback.agreedAfterMs, report).toBeLessThanOrEqual(2 * r)
      expect(rollback.gaps.longestUnownedMs, report).toBeLessThanOrEqual(2 * r)
      expect(rollback.gaps.samples, report).toBeGreaterThanOrEqual(3)
      expect(rollback.gaps.longestBetweenSamplesMs, report).toBeLessThanOrEqual(SAMPLED_EVERY_MS)
      expect(revisions.at(-1), report).toBe("3 Rollback to 1")
      expect(steadyFiring, report).toEqual([])
      expect(hintsReceived, report).toBeGreaterThan(0)
      expect(audit.unreachable.peers, report).toEqual([])
      expect(audit.answered, report).toBe(audit.peersAsked)
      expect(audit.ok, report).toBe(true)
      // The eviction and every pod the rolling update replaced went through the preStop exec.
      expect(preStops.length, report).toBeGreaterThanOrEqual(rollout.replicas + 1)
      expect(hooksFailed, report).toEqual([])
      expect(hooksLeft, report).toBeGreaterThan(0)
      expect(helmTestPassed, report).toBe(true)
      rmSync(folder, { recursive: true, force: true })
    },
    20 * 60_000
  )
})
