/**
 * The local cluster on real Kubernetes components: the control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler), a real node (the kubelet with containerd and runc, kube-proxy,
 * CNI bridge: Node.ts), CoreDNS as the cluster DNS on the node's address, and Miroir installed with
 * `helm install` of `charts/miroir` by Helm 4 (server-side apply) from the image built from the
 * Dockerfile, by digest, rolled by `helm upgrade` and `helm rollback`. The kubelet's own probes, preStop
 * hooks, SIGTERM, grace periods, Downward API and restarts decide; the pods have their own network
 * namespaces and addresses of the node's pod CIDR, which the machine reaches over the node's bridge.
 * Operations go through the real interfaces: `kubectl scale`, the Eviction API, containerd's task kill for
 * a crash, `kubectl logs`, and CoreDNS stopped and started for an outage; what DNS publishes is read from
 * the headless Service's EndpointSlices, which CoreDNS serves.
 *
 * This module is the cluster's API and puts it together; its parts are in `internal/`: the chart values
 * (`chartValues`), the release's install, upgrade and rollback (`helmRelease`), the watches that make the
 * scenario's view of the pods and of DNS (`releaseWatch`), the pods' logs (`podLogs`) and what their
 * preStop hooks did (`preStops`).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Schedule, type Scope, SubscriptionRef } from "effect"
import type { Cluster, ClusterPod } from "../Cluster.js"
import * as Components from "./Components.js"
import * as ControlPlane from "./ControlPlane.js"
import * as CoreDns from "./CoreDns.js"
import type { MiroirImage } from "./Image.js"
import { harnessValues } from "./internal/chartValues.js"
import { clusterTools, installRelease, type Release, rollBack, rollOut } from "./internal/helmRelease.js"
import * as PodLogs from "./internal/podLogs.js"
import { type PreStop, readPreStops } from "./internal/preStops.js"
import { watchRelease } from "./internal/releaseWatch.js"
import * as Node from "./Node.js"

// Part of the public API whose home is where the hooks' effects are read.
export type { PreStop } from "./internal/preStops.js"

/** Between two evictions the disruption budget refused: `kubectl drain`'s own pace. */
const EVICTION_RETRY = Duration.seconds(1)

/** Evictions tried again before a refusal is final: a replacement has a minute to become ready. */
const EVICTION_RETRIES = 60

/** The chart, installed as it is. */
export const CHART = fileURLToPath(new URL("../../../../charts/miroir", import.meta.url))

/** The chart's container, whose logs the harness follows. */
const CONTAINER = "miroir"

/** How the cluster runs. */
export interface Options {
  /** The folder of every file and log of the run. */
  readonly folder: string
  /** The release's name and namespace. */
  readonly release: string
  readonly namespace: string
  /** Replicas at `helm install`. */
  readonly replicas: number
  /** The pods' refresh interval R, set through the chart's values. */
  readonly refreshInterval: Duration.Duration
  /**
   * NodeLocal DNSCache between the pods and CoreDNS (see {@link CoreDns.Options}); off by default, as
   * kubeadm installs none.
   */
  readonly nodeLocalCache?: boolean
  /** The image the chart installs by its digest (built from the Dockerfile: Image.build). */
  readonly image: MiroirImage
  /** More chart values, merged over the ones this module sets. */
  readonly values?: Readonly<Record<string, unknown>>
  /**
   * Refresh hints (the chart's `peerHints.enabled`): on by default, as the chart has them; off to measure
   * a rollout with polling alone (`values` may also set it).
   */
  readonly peerHints?: boolean
  /** The control plane's node-lifecycle settings (upstream's by default). */
  readonly nodeLifecycle?: ControlPlane.NodeLifecycle
  /**
   * Real nodes (1 by default), each with its own bridge and /24; the first runs kube-proxy for the machine
   * and CoreDNS serves every node's pods on the first node's address.
   */
  readonly nodes?: number
}

/** The running cluster: the scenario's {@link Cluster}, and what the acceptance suite reads beyond it. */
export interface KubeCluster extends Cluster {
  readonly controlPlane: ControlPlane.ControlPlane
  readonly coreDns: CoreDns.CoreDns
  /** The real node the pods run on (the first, when there are several). */
  readonly node: Node.Node
  /** Every node, the first first. */
  readonly nodes: ReadonlyArray<Node.Node>
  /** The release's Deployment name (the chart's full name). */
  readonly deployment: string
  /** Runs helm with the cluster's kubeconfig and a private Helm home; returns its output. */
  readonly helm: (args: ReadonlyArray<string>) => Effect.Effect<string, Error>
  /** Runs kubectl with the cluster's kubeconfig; returns its output. */
  readonly kubectl: (args: ReadonlyArray<string>) => Effect.Effect<string, Error>
  /** The values file `helm install` used (write another and `helm upgrade` with it to change them). */
  readonly valuesFile: string
  /**
   * A rolling update: `helm upgrade` of the release with the values file, `set` (`key=value`, as
   * `--set`) and a new pod annotation, so that the pod template changes; then `kubectl rollout status`
   * until the Deployment has rolled, within `timeout` (as kubectl writes it, `180s`). Succeeds with the
   * time it had (ms since the epoch).
   */
  readonly rollOut: (options: { readonly set?: ReadonlyArray<string>; readonly timeout: string }) => Effect.Effect<
    number,
    Error
  >
  /**
   * `helm rollback` of the release to `revision` (its manifest as it was: pod template and replicas), with
   * `args` after it; then `kubectl rollout status` as for {@link rollOut}. Succeeds with the time it had.
   */
  readonly rollBack: (options: {
    readonly revision: number
    readonly args?: ReadonlyArray<string>
    readonly timeout: string
  }) => Effect.Effect<number, Error>
  /**
   * The preStop hooks of the pods deleted gracefully so far (their containers ran, then they terminated;
   * not the crashed ones).
   */
  readonly preStops: Effect.Effect<ReadonlyArray<PreStop>, Error>
  /** What pod `name`'s containers printed (`kubectl logs`, every run), also after the pod is gone. */
  readonly podLog: (name: string) => string
}

/** The components a cluster runs (the install script builds them). */
export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kube-proxy",
  "kubectl",
  "coredns",
  "helm",
  "kubelet",
  "containerd",
  "ctr",
  "containerd-shim-runc-v2",
  "runc"
] as const satisfies ReadonlyArray<Components.Name>

/** Starts every component, installs the chart, and waits until the release's pods are ready. */
export const make = (options: Options): Effect.Effect<KubeCluster, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const missing = Components.missing(COMPONENTS)
    if (missing.length > 0) {
      return yield* Effect.fail(
        new Error(
          `the real components are not built (${
            missing.join(", ")
          } missing in ${Components.binFolder()}): run scripts/install-test-deps.sh`
        )
      )
    }
    mkdirSync(join(options.folder, "logs"), { recursive: true })
    const controlPlane = yield* ControlPlane.make(
      options.folder,
      options.nodeLifecycle === undefined ? {} : { nodeLifecycle: options.nodeLifecycle }
    )
    // The node's network first: CoreDNS listens on the node's address, which the kubelet gives the pods.
    const network = yield* Node.network()
    const coreDns = yield* CoreDns.make(options.folder, controlPlane.kubeconfig, {
      podAddress: network.address,
      nodeLocalCache: options.nodeLocalCache ?? false
    })
    const extraImages = [{ archive: options.image.archive, ref: options.image.reference, digest: options.image.digest }]
    const node = yield* Node.make({ folder: join(options.folder, "node"), controlPlane, network, extraImages })
    const others = yield* Effect.forEach(
      Array.from({ length: Math.max(0, (options.nodes ?? 1) - 1) }, (_, i) => i + 1),
      (i) =>
        Effect.flatMap(Node.network(), (otherNetwork) =>
          Node.make({
            folder: join(options.folder, `node-${i}`),
            controlPlane,
            network: otherNetwork,
            extraImages,
            // One kube-proxy per machine (the nodes share its network namespace); one CoreDNS, on the first node.
            kubeProxy: false,
            clusterDns: [network.address]
          }))
    )
    const nodes = [node, ...others]

    const tools = clusterTools(options.folder, controlPlane.kubeconfig)
    const { helm, kubectl } = tools
    const valuesFile = join(options.folder, "values.json")
    writeFileSync(valuesFile, JSON.stringify(harnessValues(options), null, 2))
    const release: Release = { chart: CHART, name: options.release, namespace: options.namespace, valuesFile }
    const { deployment, headless } = yield* installRelease(tools, release)

    const api = controlPlane.api
    const ns = options.namespace
    const logs = yield* PodLogs.make(
      Components.path("kubectl"),
      controlPlane.kubeconfig,
      ns,
      CONTAINER,
      join(options.folder, "pods")
    )

    // The cluster's state as the scenario sees it, derived from the watches as they change.
    const { latest, pods, published, terminated } = yield* watchRelease(api, ns, options.release, headless, logs)
    /** Pods crashed by {@link crash}: deleted after their container was killed, with no preStop hook to run. */
    const crashed = new Set<string>()

    const livePods = Effect.map(
      SubscriptionRef.get(pods),
      (all) => all.filter((p) => p.phase === "Pending" || p.phase === "Running")
    )
    const pick = (name: string | undefined, fallback: (live: ReadonlyArray<ClusterPod>) => ClusterPod | undefined) =>
      Effect.flatMap(livePods, (live) => {
        const pod = name === undefined ? fallback(live) : live.find((p) => p.name === name)
        return pod === undefined ? Effect.fail(new Error(`no live pod ${name ?? ""} to act on`)) : Effect.succeed(pod)
      })

    /**
     * A crash: SIGKILL to the container's task through the node's containerd (no preStop, no SIGTERM), then
     * the pod deleted at once (grace period 0), so that its ReplicaSet replaces it. The deletion is what
     * keeps it out: the kubelet restarts a crashed container at once the first time (its back-off starts
     * at the second crash), and a pod back in DNS before the survivors' next lookup leaves nothing to
     * measure (seen: `pnpm start -- --kube` at R = 3 s timed out waiting for the survivors to drop it).
     */
    const crash = (name: string) =>
      Effect.gen(function*() {
        const id = latest.get(name)?.status?.containerStatuses?.find((s) => s.name === CONTAINER)?.containerID
        if (id === undefined || !id.startsWith("containerd://")) {
          return yield* Effect.fail(new Error(`pod ${ns}/${name} has no running container ${CONTAINER} (${id})`))
        }
        crashed.add(name)
        const on = nodes.find((n) => n.name === latest.get(name)?.spec?.nodeName) ?? node
        yield* on.ctr(["tasks", "kill", "--signal", "SIGKILL", id.slice("containerd://".length)])
        yield* api.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`, {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0
        })
      })

    const preStops = readPreStops(api, ns, terminated, crashed, logs)

    // What the node reports of itself (the install script's versions.txt is shared by every worktree).
    const nodeInfo = yield* api.request<{
      status?: { nodeInfo?: { kubeletVersion?: string; containerRuntimeVersion?: string } }
    }>("GET", `/api/v1/nodes/${node.name}`).pipe(Effect.map((n) => n.status?.nodeInfo ?? {}))
    const coreDnsVersion = Components.versions()["coredns"]
    return {
      description:
        `Kubernetes ${controlPlane.version} (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), kubelet ${
          nodeInfo.kubeletVersion ?? "?"
        } with ${nodeInfo.containerRuntimeVersion ?? "?"} on ${
          nodes.map((n) => `node ${n.name} (${n.network.podCidr})`).join(", ")
        }, kube-proxy (nftables), CoreDNS${
          coreDnsVersion === undefined ? "" : ` ${coreDnsVersion}`
        } on ${network.address}:53; image ${options.image.repository}@${options.image.digest}`,
      pods,
      published,
      replacesDeparted: true,
      controlPlane,
      coreDns,
      node,
      nodes,
      deployment,
      helm,
      kubectl,
      valuesFile,
      preStops,
      podLog: logs.read,
      rollOut: (rollOptions) => rollOut(tools, release, deployment, rollOptions),
      rollBack: (rollBackOptions) => rollBack(tools, release, deployment, rollBackOptions),
      scaleTo: (replicas) =>
        Effect.asVoid(kubectl(["scale", `deployment/${deployment}`, "--namespace", ns, `--replicas=${replicas}`])),
      deletePod: (name) =>
        pick(name, (live) => live[0]).pipe(
          Effect.tap((pod) =>
            api.request("POST", `/api/v1/namespaces/${ns}/pods/${pod.name}/eviction`, {
              apiVersion: "policy/v1",
              kind: "Eviction",
              metadata: { name: pod.name, namespace: ns }
            }).pipe(
              // The chart's PodDisruptionBudget refuses an eviction (429) while a replacement is not ready yet
              // (after a crash the pods now notice within a second, before the replacement starts): retried as
              // `kubectl drain` does, until the budget allows it.
              Effect.retry({
                while: (error) => error.status === 429,
                schedule: Schedule.spaced(EVICTION_RETRY),
                times: EVICTION_RETRIES
              })
            )
          ),
          Effect.map((pod) => pod.name)
        ),
      killPod: (name) =>
        pick(name, (live) => live.at(-1)).pipe(
          Effect.tap((pod) => crash(pod.name)),
          Effect.map((pod) => pod.name)
        ),
      setDnsOutage: (on) => (on ? coreDns.stop : coreDns.start)
    } satisfies KubeCluster
  })
