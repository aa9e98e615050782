/**
 * The local cluster on real Kubernetes components: the control plane (etcd, kube-apiserver,
 * kube-controller-manager), CoreDNS as the cluster DNS, the process kubelet, and Miroir installed
 * with `helm install` of `charts/miroir` by Helm 4 (server-side apply), rolled by `helm upgrade` and
 * `helm rollback`. Operations go through the real interfaces: `kubectl scale`,
 * the Eviction API, and CoreDNS stopped and started for an outage; what DNS publishes is read from the
 * headless Service's EndpointSlices, which CoreDNS serves.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundle } from "@miroir/miroir/bundle"
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1/EndpointSlice"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Duration, Effect, type Scope, Stream, SubscriptionRef } from "effect"
import type { Cluster, ClusterPod, Phase, Published } from "../Cluster.js"
import * as Components from "./Components.js"
import * as ControlPlane from "./ControlPlane.js"
import * as CoreDns from "./CoreDns.js"
import { run } from "./Cli.js"
import { HTTP_PORT, METRICS_PORT } from "../simulator/PodProcess.js"
import * as ProcessKubelet from "./ProcessKubelet.js"

/** The chart, installed as it is. */
export const CHART = fileURLToPath(new URL("../../../../charts/miroir", import.meta.url))

/** The pods' IPs in the API, and their loopback twins where the processes listen (see ProcessKubelet). */
const NETWORKS = { podNetwork: "198.51.100", loopbackNetwork: "127.0.2" } as const

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
  /** CoreDNS's TTLs (kubeadm's are 30 s and 30 s). */
  readonly dnsTtls: CoreDns.Ttls
  /** More chart values, merged over the ones this module sets. */
  readonly values?: Readonly<Record<string, unknown>>
  /** The first delay of the kubelet's restarts after a crash (the kubelet's is 10 s). */
  readonly restartBackoff?: Duration.Duration
  /**
   * Refresh hints (the chart's `peerHints.enabled`): on by default, as the chart has them; off to measure
   * a rollout with polling alone (`values` may also set it).
   */
  readonly peerHints?: boolean
}

/** The running cluster: the scenario's {@link Cluster}, and what the acceptance suite reads beyond it. */
export interface KubeCluster extends Cluster {
  readonly controlPlane: ControlPlane.ControlPlane
  readonly coreDns: CoreDns.CoreDns
  readonly kubelet: ProcessKubelet.ProcessKubelet
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
}

/** R as the chart writes durations (`250ms`, `2s`). */
const chartDuration = (duration: Duration.Duration): string => {
  const ms = Math.round(Duration.toMillis(duration))
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/**
 * The values the harness installs with: R and a lookup timeout of R/5 (as 3 s of 15 s), probes every
 * second (the API's smallest period) and a short grace period, so that a run takes seconds, not minutes;
 * refresh hints as {@link Options.peerHints} says.
 */
const harnessValues = (options: Options): Record<string, unknown> => ({
  // The chart requires an image (none is published); the process kubelet runs the bundle for any image
  // named miroir.
  image: { repository: "registry.example.com/search/miroir" },
  replicaCount: options.replicas,
  discovery: {
    refreshInterval: chartDuration(options.refreshInterval),
    lookupTimeout: chartDuration(
      Duration.millis(Math.max(100, Math.floor(Duration.toMillis(options.refreshInterval) / 5)))
    )
  },
  probes: {
    startup: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 },
    readiness: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    liveness: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 5 }
  },
  terminationGracePeriodSeconds: 10,
  // A short preStop delay (the chart's default is 5 s): deletions still go through the hook, quickly.
  lifecycle: { preStopSleepSeconds: 1 },
  // The ownership audit and the refresh hints run as the chart has them (audit every 3R): they ask the
  // peers at their pod IPs, which the process kubelet routes to the loopback twins
  // (MIROIR_PEER_ADDRESS_TWIN, see ProcessKubelet).
  peerHints: { enabled: options.peerHints ?? true },
  ...options.values
})

const dashed = (ip: string) => ip.replaceAll(".", "-").replaceAll(":", "-")

const phaseOf = (pod: IPod): Phase =>
  pod.metadata?.deletionTimestamp !== undefined ?
    "Terminating"
    : pod.status?.phase === "Running" ?
    "Running"
    : pod.status?.phase === "Pending" || pod.status?.phase === undefined ?
    "Pending"
    : "Gone"

const isReady = (pod: IPod) => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false

/** The ready endpoints of the Service's slices, as CoreDNS publishes them (dashed IPs, sorted). */
const readyLabels = (slices: ReadonlyArray<IEndpointSlice>): ReadonlyArray<string> =>
  [
    ...new Set(slices.flatMap((slice) =>
      (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).map((e) =>
        e.hostname ?? dashed(e.addresses[0]!)
      )
    ))
  ].sort()

/** Starts every component, installs the chart, and waits until the release's pods are ready. */
export const make = (options: Options): Effect.Effect<KubeCluster, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const missing = Components.missing([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kubectl",
      "coredns",
      "helm"
    ])
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
    const controlPlane = yield* ControlPlane.make(options.folder)
    const coreDns = yield* CoreDns.make(options.folder, controlPlane.kubeconfig, options.dnsTtls)
    const program = yield* Effect.promise(() => bundle(join(options.folder, "miroir.mjs")))
    const kubelet = yield* ProcessKubelet.make(controlPlane.api, {
      nodeName: "process-kubelet",
      // The only emulated part: the image of Miroir (any registry, any tag) is the bundled pod service, its
      // /app/miroir.mjs (the preStop exec names it) the bundle.
      images: (image) =>
        /(^|\/)miroir(:[^/]*)?(@sha256:[0-9a-f]+)?$/.test(image)
          ? { command: process.execPath, args: [program], files: { "/app/miroir.mjs": program } }
          : undefined,
      dnsServer: coreDns.server,
      clusterDomain: "cluster.local",
      ...NETWORKS,
      logFolder: join(options.folder, "pods"),
      restartBackoff: options.restartBackoff ?? Duration.seconds(10)
    })

    const helmHome = join(options.folder, "helm")
    const helm = (args: ReadonlyArray<string>) =>
      run(Components.path("helm"), args, {
        KUBECONFIG: controlPlane.kubeconfig,
        HELM_CACHE_HOME: join(helmHome, "cache"),
        HELM_CONFIG_HOME: join(helmHome, "config"),
        HELM_DATA_HOME: join(helmHome, "data")
      })
    const kubectl = (args: ReadonlyArray<string>) =>
      run(Components.path("kubectl"), ["--kubeconfig", controlPlane.kubeconfig, ...args])

    const valuesFile = join(options.folder, "values.json")
    writeFileSync(valuesFile, JSON.stringify(harnessValues(options), null, 2))
    if (options.namespace !== "default") {
      yield* kubectl(["create", "namespace", options.namespace])
    }
    yield* helm(["install", options.release, CHART, "--namespace", options.namespace, "-f", valuesFile])
    yield* Effect.addFinalizer(() =>
      Effect.ignore(
        helm(["uninstall", options.release, "--namespace", options.namespace, "--wait", "--timeout", "20s"])
      )
    )
    const manifest = yield* helm(["get", "manifest", options.release, "--namespace", options.namespace])
    const deployment = /kind: Deployment\nmetadata:\n {2}name: (\S+)/.exec(manifest)?.[1]
    const headless = /MIROIR_PEER_DISCOVERY_SERVICE\n\s+value: "?([^"\n]+)"?/.exec(manifest)?.[1]
    if (deployment === undefined || headless === undefined) {
      return yield* Effect.fail(
        new Error(`helm install of ${CHART}: no Deployment or headless Service in the manifest`)
      )
    }

    const api = controlPlane.api
    const ns = options.namespace
    const selector = encodeURIComponent(`app.kubernetes.io/instance=${options.release}`)
    const podInformer = yield* api.informer<IPod>(`/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)
    const sliceInformer = yield* api.informer<IEndpointSlice>(
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${
        encodeURIComponent(`kubernetes.io/service-name=${headless}`)
      }`
    )

    // The cluster's state as the scenario sees it, derived from the watches as they change.
    const pods = yield* SubscriptionRef.make<ReadonlyArray<ClusterPod>>([])
    const published = yield* SubscriptionRef.make<Published>({ at: 0, labels: [] })
    const readySince = new Map<string, number>()
    const seen = new Map<string, ClusterPod>()
    yield* SubscriptionRef.changes(podInformer).pipe(
      Stream.runForEach((all) =>
        Effect.gen(function*() {
          const current = new Set<string>()
          for (const pod of all.values()) {
            const uid = pod.metadata?.uid ?? ""
            const podIP = pod.status?.podIP
            current.add(uid)
            const ready = isReady(pod) && pod.metadata?.deletionTimestamp === undefined
            if (ready && !readySince.has(uid)) readySince.set(uid, Date.now())
            if (!ready) readySince.delete(uid)
            if (podIP === undefined) continue
            const ip = ProcessKubelet.loopbackTwin(podIP, NETWORKS)
            seen.set(uid, {
              name: pod.metadata?.name ?? "",
              ip,
              label: dashed(podIP),
              url: `http://${ip}:${HTTP_PORT}`,
              metricsUrl: `http://${ip}:${METRICS_PORT}/metrics`,
              phase: phaseOf(pod),
              ready,
              readyAt: readySince.get(uid)
            })
          }
          for (const [uid, pod] of seen) {
            if (!current.has(uid) && pod.phase !== "Gone") seen.set(uid, { ...pod, phase: "Gone", ready: false })
          }
          yield* SubscriptionRef.set(pods, [...seen.values()])
        })
      ),
      Effect.forkScoped
    )
    yield* SubscriptionRef.changes(sliceInformer).pipe(
      Stream.map((slices) => readyLabels([...slices.values()])),
      Stream.changesWith((a, b) => a.join() === b.join()),
      Stream.runForEach((labels) => SubscriptionRef.set(published, { at: Date.now(), labels })),
      Effect.forkScoped
    )

    const livePods = Effect.map(
      SubscriptionRef.get(pods),
      (all) => all.filter((p) => p.phase === "Pending" || p.phase === "Running")
    )
    const pick = (name: string | undefined, fallback: (live: ReadonlyArray<ClusterPod>) => ClusterPod | undefined) =>
      Effect.flatMap(livePods, (live) => {
        const pod = name === undefined ? fallback(live) : live.find((p) => p.name === name)
        return pod === undefined ? Effect.fail(new Error(`no live pod ${name ?? ""} to act on`)) : Effect.succeed(pod)
      })

    const versions = Components.versions()
    return {
      description: `Kubernetes ${controlPlane.version} (etcd, kube-apiserver, kube-controller-manager), CoreDNS ${
        versions["coredns"] ?? ""
      } on ${coreDns.server}, process kubelet`,
      pods,
      published,
      controlPlane,
      coreDns,
      kubelet,
      deployment,
      helm,
      kubectl,
      valuesFile,
      rollOut: ({ set = [], timeout }) =>
        Effect.gen(function*() {
          yield* helm([
            "upgrade",
            options.release,
            CHART,
            "--namespace",
            ns,
            "-f",
            valuesFile,
            ...set.flatMap((value) => ["--set", value]),
            "--set-string",
            `podAnnotations.rollout=${Date.now()}`
          ])
          yield* kubectl(["rollout", "status", `deployment/${deployment}`, "--namespace", ns, `--timeout=${timeout}`])
          return Date.now()
        }),
      rollBack: ({ args = [], revision, timeout }) =>
        Effect.gen(function*() {
          yield* helm(["rollback", options.release, String(revision), "--namespace", ns, ...args])
          yield* kubectl(["rollout", "status", `deployment/${deployment}`, "--namespace", ns, `--timeout=${timeout}`])
          return Date.now()
        }),
      scaleTo: (replicas) =>
        Effect.asVoid(kubectl(["scale", `deployment/${deployment}`, "--namespace", ns, `--replicas=${replicas}`])),
      deletePod: (name) =>
        pick(name, (live) => live[0]).pipe(
          Effect.tap((pod) =>
            api.request("POST", `/api/v1/namespaces/${ns}/pods/${pod.name}/eviction`, {
              apiVersion: "policy/v1",
              kind: "Eviction",
              metadata: { name: pod.name, namespace: ns }
            })
          ),
          Effect.map((pod) => pod.name)
        ),
      killPod: (name) =>
        pick(name, (live) => live.at(-1)).pipe(
          Effect.tap((pod) => kubelet.killContainer(ns, pod.name)),
          Effect.map((pod) => pod.name)
        ),
      setDnsOutage: (on) => (on ? coreDns.stop : coreDns.start)
    } satisfies KubeCluster
  })
