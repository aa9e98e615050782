/**
 * A node failure on real Kubernetes: two real nodes (each a kubelet with its own containerd, bridge and
 * /24; the pods of one reach the other's through the machine), Miroir installed from the image built from
 * the Dockerfile with 4 replicas spread over both, then the second node fails: its kubelet stops and its
 * containers are frozen (cgroup freezer), so its pods hold their addresses but answer nothing, as on a
 * machine that hangs. Measured, with the control plane's node-lifecycle settings printed (upstream's:
 * they are the baseline of the issue "Heal in seconds"):
 *
 * - how long DNS still lists the dead node's pods (until the node-lifecycle controller marks the Node
 *   NotReady and its pods not ready, and the EndpointSlice follows);
 * - how long their shards have no owner (ShardGaps: a pod that does not answer owns nothing), until the
 *   survivors, having seen DNS drop them, take the shards over.
 *
 * It asserts what must hold whatever the settings: the dead node's pods leave DNS, not before the Node is
 * marked NotReady, and the survivors then own every shard; the figures are printed, not bounded. A first
 * run (upstream's settings, 2026-12-03): NotReady after 44.8 s, out of DNS after 44.6 s, every shard owned
 * again after 51.3 s, the longest gap 48.2 s, 1,806 shard-seconds unowned.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Client from "@miroir/pod-api/Client"
import type { INode } from "kubernetes-models/v1/Node"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Duration, Effect, Schedule, SubscriptionRef } from "effect"
import { describe, expect, it } from "vitest"
import { awaitPublished, awaitSettled } from "../../src/Cluster.js"
import { describeNodeLifecycle } from "../../src/kube/ControlPlane.js"
import * as Image from "../../src/kube/Image.js"
import * as KubeCluster from "../../src/kube/KubeCluster.js"
import { awaitConverged, observe } from "../../src/Observer.js"
import * as ShardGaps from "../../src/ShardGaps.js"

const R = Duration.seconds(4)
const SHARDS = 64
const NAMESPACE = "default"

describe("a node failure on real Kubernetes (two real nodes, one stopped and frozen)", () => {
  it("its pods stay in DNS until the node is marked NotReady; then the survivors own every shard", async () => {
    const folder = mkdtempSync(join(tmpdir(), "miroir-node-failure-"))
    const outcome = await Effect.gen(function*() {
      const image = yield* Image.build()
      const cluster = yield* KubeCluster.make({
        folder,
        release: "miroir",
        namespace: NAMESPACE,
        replicas: 4,
        refreshInterval: R,
        image,
        nodes: 2
      })
      yield* awaitSettled(cluster, "120 seconds")
      yield* awaitPublished(cluster, (labels) => labels.length === 4, "60 seconds")
      yield* awaitConverged(cluster, SHARDS, R, "the 4 pods to agree")
      const api = cluster.controlPlane.api
      const dead = cluster.nodes[1]!
      const onDead = yield* api.request<{ items: Array<IPod> }>(
        "GET",
        `/api/v1/namespaces/${NAMESPACE}/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${dead.name}`)}`
      )
      const deadLabels = onDead.items.flatMap((pod) =>
        pod.status?.podIP === undefined ? [] : [pod.status.podIP.replaceAll(".", "-")]
      )
      if (deadLabels.length === 0) {
        return yield* Effect.fail(new Error(`the scheduler put none of the 4 pods on ${dead.name}`))
      }

      const stopSampling = yield* ShardGaps.sample(cluster, SHARDS, "200 millis")
      const failedAt = Date.now()
      yield* dead.stopKubelet
      yield* dead.freeze
      // The Node's Ready condition as the node-lifecycle controller sets it.
      const notReadyAt = yield* api.request<INode>("GET", `/api/v1/nodes/${dead.name}`).pipe(
        Effect.map((node) => node.status?.conditions?.find((c) => c.type === "Ready")?.status),
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(250)), until: (status) => status !== "True" }),
        Effect.map(() => Date.now()),
        Effect.timeout(Duration.minutes(3))
      )
      const unlistedAt = yield* awaitPublished(
        cluster,
        (labels) => labels.every((label) => !deadLabels.includes(label)),
        "3 minutes"
      )
      // The survivors follow DNS within about 1.2R; then every shard has exactly one live owner.
      const survivors = (yield* SubscriptionRef.get(cluster.published)).labels
      const coveredAt = yield* observe(cluster, SHARDS).pipe(
        Effect.map((views) => {
          const owners = new Map<number, number>()
          for (const view of views.filter((v) => survivors.includes(v.pod.label))) {
            for (const shard of view.owned) owners.set(shard, (owners.get(shard) ?? 0) + 1)
          }
          return owners.size === SHARDS && [...owners.values()].every((n) => n === 1)
        }),
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(250)), until: (covered) => covered }),
        Effect.map(() => Date.now()),
        Effect.timeout(Duration.times(R, 4))
      )
      const gaps = yield* stopSampling
      return {
        settings: describeNodeLifecycle(cluster.controlPlane.nodeLifecycle),
        deadPods: deadLabels.length,
        notReadyMs: notReadyAt - failedAt,
        listedMs: unlistedAt - failedAt,
        coveredMs: coveredAt - failedAt,
        gaps,
        description: cluster.description
      }
    }).pipe(Effect.scoped, Effect.provide(Client.layerFetch), Effect.runPromise)

    const report = [
      `## Node failure (kubelet stopped, containers frozen), R = ${Duration.format(R)}, ${SHARDS} shards`,
      "",
      `cluster: ${outcome.description}`,
      `node lifecycle: ${outcome.settings}`,
      "",
      "| from the failure to | s |",
      "| --- | --- |",
      `| the Node marked NotReady (node-lifecycle controller) | ${(outcome.notReadyMs / 1000).toFixed(1)} |`,
      `| DNS no longer lists its ${outcome.deadPods} pods | ${(outcome.listedMs / 1000).toFixed(1)} |`,
      `| the survivors own every shard once | ${(outcome.coveredMs / 1000).toFixed(1)} |`,
      `| longest time a shard had no owner | ${(outcome.gaps.longestUnownedMs / 1000).toFixed(1)} |`,
      "",
      `Shard-seconds unowned ${outcome.gaps.unownedShardSeconds.toFixed(1)}, doubly owned ${
        outcome.gaps.multiOwnedShardSeconds.toFixed(1)
      }; ${outcome.gaps.samples} samples.`,
      ""
    ].join("\n")
    console.log(report)
    // The same pass of the node-lifecycle controller marks the Node and its pods: DNS follows the pods' Ready
    // condition, seen by a watch, while the Node's is polled every 250 ms (seen: 44.6 s against 44.8 s).
    expect(outcome.listedMs + 1000, report).toBeGreaterThanOrEqual(outcome.notReadyMs)
    expect(outcome.coveredMs, report).toBeGreaterThanOrEqual(outcome.listedMs)
    expect(outcome.gaps.longestUnownedMs, report).toBeGreaterThan(0)
    rmSync(folder, { recursive: true, force: true })
  }, 15 * 60_000)
})
