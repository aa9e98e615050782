/**
 * The acceptance suite: the seed's four criteria (with R = 1 s; the seed's bounds are for 15 s) and the
 * behaviour under DNS trouble, against real pod processes, checked through the pods' own HTTP API and
 * through a real Prometheus scraping them. It runs once with the simulator's DNS and once with unbound.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Client from "@miroir/pod-api/Client"
import { startPrometheus, type Prometheus } from "@miroir/test-support/prometheus"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { Duration, Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Cluster, awaitPublished, livePods } from "../src/Cluster.js"
import * as ClusterDns from "../src/simulator/ClusterDns.js"
import * as EndpointsController from "../src/simulator/EndpointsController.js"
import { awaitViews } from "../src/Observer.js"
import { METRICS_PORT } from "../src/Cluster.js"
import * as Report from "../src/Report.js"
import * as Scenario from "../src/Scenario.js"
import * as SimulatedCluster from "../src/simulator/SimulatedCluster.js"
import * as UnboundBackend from "./support/unboundBackend.js"

const R = Duration.seconds(1)
const SHARDS = 64

/** Criterion 4 through Prometheus: every ready pod reports the ready count, and the alert does not fire. */
const checkThroughPrometheus =
  (prometheus: Prometheus, cluster: Cluster) => (step: string, published: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const targets = (yield* livePods(cluster)).filter((pod) => published.includes(pod.label)).map((pod) =>
        `${pod.ip}:${METRICS_PORT}`
      )
      yield* Effect.tryPromise({
        try: async () => {
          const ready = published.length
          await prometheus.setTargets(targets)
          const scraped = "(miroir_peer_pod_count and on(instance) up == 1)"
          await waitUntil(
            `Prometheus to read miroir_peer_pod_count = ${ready} from all ${ready} pods after ${step}`,
            15_000,
            async () => {
              const samples = await prometheus.query(scraped)
              return samples.length === ready && samples.every((sample) => sample.value === ready)
            }
          )
          // The seed's alert, MiroirPeerDiscoveryGap, with the ready count in place of kube-state-metrics:
          // silent now, and it would fire on every pod if one more replica were ready.
          expect(await prometheus.query(`${scraped} < ${ready}`)).toEqual([])
          expect(await prometheus.query(`${scraped} < ${ready + 1}`)).toHaveLength(ready)
        },
        catch: (error) => error instanceof Error ? error : new Error(String(error))
      })
    })

const backends = {
  simulator: ClusterDns.make(),
  unbound: UnboundBackend.make
} as const

describe.each(Object.keys(backends) as Array<keyof typeof backends>)(
  "acceptance, with %s as the cluster DNS",
  (backend) => {
    let prometheus: Prometheus
    beforeAll(async () => {
      prometheus = await startPrometheus("250ms")
    })
    afterAll(async () => {
      await prometheus?.stop()
    })

    it("meets the seed's criteria: 3 pods, scale to 5, kill, delete, a DNS outage of 3R and recovery", async () => {
      const logFolder = mkdtempSync(join(tmpdir(), `miroir-acceptance-${backend}-`))
      const { description, result } = await Effect.gen(function*() {
        const cluster = yield* SimulatedCluster.make(
          yield* backends[backend],
          EndpointsController.defaults(R, logFolder)
        )
        const result = yield* Scenario.run("default", cluster, {
          pods: 3,
          refreshInterval: R,
          shards: SHARDS,
          afterStep: checkThroughPrometheus(prometheus, cluster)
        })
        return { description: cluster.description, result }
      }).pipe(Effect.scoped, Effect.provide(Client.layerFetch), Effect.runPromise)
      const report = Report.render(result, { cluster: description, pods: 3, statefulSet: false })
      console.log(report)
      expect(result.checks.filter((check) => !check.passed), `${report}\npod logs: ${logFolder}`).toEqual([])
      expect(result.checks).toHaveLength(7)
    }, 180_000)
  }
)

describe("acceptance, beyond the criteria", () => {
  it("50 StatefulSet pods (R = 10 s): every pod sees all 50, through the TCP retry of truncated answers", async () => {
    const logFolder = mkdtempSync(join(tmpdir(), "miroir-acceptance-50-"))
    // R = 10 s, so that the seed's 2R (20 s) holds on a loaded 2-core machine: 50 pod processes beside
    // other work (load average 9-10) took 14.0 s to agree after the last became ready, past the 6 s of
    // R = 3 s; at R = 10 s they agreed in 11.6 s at load average 20-33. What this test is about is the TCP
    // retry of truncated answers, not speed (BENCHMARKS.md measures convergence at scale).
    const r = Duration.seconds(10)
    const { answered, description, result } = await Effect.gen(function*() {
      // Hints off: a StatefulSet pod reaches a peer through its hostname's A record, so 50 pods starting
      // at once would send 50 × 49 lookups to the one simulator process that also answers the SRV
      // queries under test, and it falls behind (measured: lookups time out and the pods agree 20 s late).
      const cluster = yield* SimulatedCluster.make(yield* ClusterDns.make(), {
        ...EndpointsController.defaults(r, logFolder),
        statefulSet: true,
        // The kubelet's default timeout (1 s), not the simulator's 200 ms: 50 pods on two cores beside
        // other work answered /readyz late three times in a row, and a pod left DNS for a probe period.
        probeTimeout: Duration.seconds(1),
        env: { MIROIR_PEER_HINTS: "off" }
      })
      const result = yield* Scenario.run("steady", cluster, { pods: 50, refreshInterval: r, shards: SHARDS })
      // Each pod knows itself by its hostname, as DNS lists it (a pod DNS does not list, for a moment on a
      // loaded machine, falls back to its dashed IP until it is listed again: within 2R).
      const hostnames = Array.from({ length: 50 }, (_, i) => `miroir-${i}`).sort()
      yield* awaitViews(
        cluster,
        SHARDS,
        (views) => JSON.stringify(views.map((view) => view.self).sort()) === JSON.stringify(hostnames),
        Duration.times(r, 2),
        "every pod to know itself by its hostname"
      )
      return { answered: cluster.dns.answered(), description: cluster.description, result }
    }).pipe(Effect.scoped, Effect.provide(Client.layerFetch), Effect.runPromise)
    const report = Report.render(result, { cluster: description, pods: 50, statefulSet: true })
    console.log(report)
    expect(result.checks.filter((check) => !check.passed), `${report}\npod logs: ${logFolder}`).toEqual([])
    // Every SRV answer of 50 pods is over 512 bytes: each UDP query was answered truncated and asked again over TCP.
    expect(answered.tcp).toBeGreaterThan(50)
  }, 240_000)

  it("all pods unready: DNS answers NXDOMAIN and every pod falls back to itself, fresh, not stale", async () => {
    const logFolder = mkdtempSync(join(tmpdir(), "miroir-acceptance-unready-"))
    await Effect.gen(function*() {
      const cluster = yield* SimulatedCluster.make(yield* ClusterDns.make(), EndpointsController.defaults(R, logFolder))
      yield* cluster.scaleTo(3)
      yield* awaitPublished(cluster, (labels) => labels.length === 3, "60 seconds")
      yield* cluster.setAllUnready(true)
      expect(cluster.dns.endpoints()).toEqual([])
      const views = yield* awaitViews(
        cluster,
        SHARDS,
        (views) =>
          views.every((view) =>
            view.reachable && view.peers.length === 1 && view.peers[0] === view.self && !view.stale
          ),
        "5 seconds",
        "every pod to fall back to itself"
      )
      // Each pod alone owns every shard: overlap, never a shard without an owner.
      expect(views.every((view) => view.owned.length === SHARDS)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Client.layerFetch), Effect.runPromise)
  }, 120_000)
})
