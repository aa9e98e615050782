/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager and
 * kube-scheduler, the upstream commands built from their Go modules (see Components), started the way
 * Kubernetes' own integration tests and kubeadm start them, with certificates of our own (internal/pki)
 * and an admin kubeconfig in a temporary folder. Closing the scope stops them by their process ids.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import { get as httpsGet } from "node:https"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "./Components.js"
import { daemon } from "./internal/daemon.js"
import { makePki, type Pki } from "./internal/pki.js"
import { type Connection, make as makeClient, type Service as KubeApiService } from "./KubeApi.js"

/**
 * The controllers the cluster runs: what Deployments, EndpointSlices, garbage collection, eviction
 * budgets and service accounts need (kube-controller-manager's names), and the node lifecycle: a real
 * kubelet registers its Node with the taint `node.kubernetes.io/not-ready:NoSchedule`, which only the
 * node-lifecycle controller removes, and the same controller marks a node whose kubelet stopped posting
 * NotReady; the taint-eviction controller then evicts its pods once their toleration runs out, and the pod
 * garbage collector deletes the terminating pods a dead node can no longer finish.
 */
const CONTROLLERS = [
  "deployment-controller",
  "replicaset-controller",
  "endpointslice-controller",
  "garbage-collector-controller",
  "disruption-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "namespace-controller",
  "node-lifecycle-controller",
  "taint-eviction-controller",
  "pod-garbage-collector-controller",
  // The `kube-root-ca.crt` ConfigMap of every namespace: a real kubelet mounts it in every pod's projected
  // service-account volume, and holds the pod in ContainerCreating without it.
  "root-ca-certificate-publisher-controller"
] as const

/**
 * How the control plane notices a dead node and evicts its pods: what decides the node-failure figures
 * (how long DNS still lists a dead node's pods). The defaults are upstream's (kube-controller-manager and
 * kube-apiserver v1.37).
 */
export interface NodeLifecycle {
  /** `--node-monitor-period`: how often the node-lifecycle controller checks the Nodes' heartbeats. */
  readonly monitorPeriod: Duration.Duration
  /**
   * `--node-monitor-grace-period`: how long a Node may go without a heartbeat (its Lease and status) before
   * the controller marks it NotReady (Unknown) and the EndpointSlice controller marks its pods not ready.
   */
  readonly monitorGracePeriod: Duration.Duration
  /** `--node-eviction-rate`: nodes per second whose pods are evicted while a zone is healthy. */
  readonly evictionRate: number
  /** `--secondary-node-eviction-rate`: the same while a zone is unhealthy. */
  readonly secondaryEvictionRate: number
  /** `--unhealthy-zone-threshold`: the share of NotReady nodes that makes a zone unhealthy. */
  readonly unhealthyZoneThreshold: number
  /**
   * The API server's `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`
   * (admission plugin DefaultTolerationSeconds): how long a pod stays bound to a NotReady or unreachable
   * node before the taint-eviction controller deletes it.
   */
  readonly notReadyToleration: Duration.Duration
  readonly unreachableToleration: Duration.Duration
}

/** Upstream's defaults (v1.37). */
export const defaultNodeLifecycle: NodeLifecycle = {
  monitorPeriod: Duration.seconds(5),
  monitorGracePeriod: Duration.seconds(50),
  evictionRate: 0.1,
  secondaryEvictionRate: 0.01,
  unhealthyZoneThreshold: 0.55,
  notReadyToleration: Duration.seconds(300),
  unreachableToleration: Duration.seconds(300)
}

/** The node-lifecycle settings as one line, for reports. */
export const describeNodeLifecycle = (settings: NodeLifecycle): string =>
  [
    `--node-monitor-period=${Duration.format(settings.monitorPeriod)}`,
    `--node-monitor-grace-period=${Duration.format(settings.monitorGracePeriod)}`,
    `--node-eviction-rate=${settings.evictionRate}`,
    `--secondary-node-eviction-rate=${settings.secondaryEvictionRate}`,
    `--unhealthy-zone-threshold=${settings.unhealthyZoneThreshold}`,
    `--default-not-ready-toleration-seconds=${Duration.toSeconds(settings.notReadyToleration)}`,
    `--default-unreachable-toleration-seconds=${Duration.toSeconds(settings.unreachableToleration)}`
  ].join(" ")

const seconds = (duration: Duration.Duration) => `${Math.round(Duration.toMillis(duration)) / 1000}s`

/** Succeeds once `url` (a component's own self-signed HTTPS endpoint, e.g. /healthz) answers 200. */
const httpsOk = (url: string): Effect.Effect<void, Error> =>
  Effect.callback<void, Error>((resume) => {
    // The component's serving certificate is self-signed and nothing else listens on its loopback port.
    const request = httpsGet(url, { rejectUnauthorized: false, timeout: 2000 }, (response) => {
      response.resume()
      resume(response.statusCode === 200 ? Effect.void : Effect.fail(new Error(`${url}: ${response.statusCode}`)))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.on("timeout", () => request.destroy(new Error(`${url}: no answer within 2 s`)))
    return Effect.sync(() => void request.destroy())
  })

/** The Services' ClusterIP range (`--service-cluster-ip-range`); blackholed in the machine's namespace by a real node. */
export const SERVICE_CIDR = "10.96.0.0/16"

/** A running control plane. */
export interface ControlPlane {
  /** The admin kubeconfig (client certificate of system:masters). */
  readonly kubeconfig: string
  /** How to reach the API server. */
  readonly connection: Connection
  /** A client of the API server. */
  readonly api: KubeApiService
  /** The folder of its files and logs. */
  readonly folder: string
  /** The API server's version (`v1.37.2`). */
  readonly version: string
  /** The cluster CA and the other certificates (a real node's kubelet gets its client certificate from the CA). */
  readonly pki: Pki
  /** How it notices dead nodes and evicts their pods (flags of the controller-manager and the API server). */
  readonly nodeLifecycle: NodeLifecycle
}

/** How to run the control plane. */
export interface Options {
  /** The node-lifecycle settings; upstream's ({@link defaultNodeLifecycle}) by default. */
  readonly nodeLifecycle?: NodeLifecycle
}

/** A kubeconfig for `server` with the client certificate `cert` and its key (files). */
export const kubeconfigYaml = (
  server: string,
  pki: { readonly caCert: string; readonly cert: string; readonly key: string }
): string => {
  const base64 = (file: string) => readFileSync(file).toString("base64")
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: local",
    "    cluster:",
    `      server: ${server}`,
    `      certificate-authority-data: ${base64(pki.caCert)}`,
    "users:",
    "  - name: admin",
    "    user:",
    `      client-certificate-data: ${base64(pki.cert)}`,
    `      client-key-data: ${base64(pki.key)}`,
    "contexts:",
    "  - name: local",
    "    context: { cluster: local, user: admin, namespace: default }",
    "current-context: local",
    ""
  ].join("\n")
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler in `folder`; waits until each
 * is ready.
 */
export const make = (folder: string, options: Options = {}): Effect.Effect<ControlPlane, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const nodeLifecycle = options.nodeLifecycle ?? defaultNodeLifecycle
    const logFolder = join(folder, "logs")
    yield* Effect.promise(() => mkdir(logFolder, { recursive: true }))
    const pki = yield* Effect.tryPromise({ try: () => makePki(folder), catch: (e) => e as Error })
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedulerPort] = yield* Effect.promise(() =>
      Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
    )

    const etcdUrl = `http://127.0.0.1:${etcdPort}`
    yield* daemon("etcd", Components.path("etcd"), [
      "--name=local",
      `--data-dir=${join(folder, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=local=http://127.0.0.1:${etcdPeerPort}`,
      // A test cluster: losing its data on a power cut is fine, and fsync would slow every write.
      "--unsafe-no-fsync",
      "--log-level=warn"
    ], {
      logFolder,
      timeout: Duration.seconds(30),
      ready: Effect.tryPromise(async () => {
        const response = await fetch(`${etcdUrl}/health`)
        if (!response.ok) throw new Error(`etcd health ${response.status}`)
      })
    })

    const server = `https://127.0.0.1:${apiPort}`
    const connection: Connection = {
      server,
      ca: readFileSync(pki.caCert, "utf8"),
      cert: readFileSync(pki.adminCert, "utf8"),
      key: readFileSync(pki.adminKey, "utf8")
    }
    const api = makeClient(connection)
    yield* daemon("kube-apiserver", Components.path("kube-apiserver"), [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      // ClusterIPs are allocated from this range; a real node's kube-proxy sends what its pods address there
      // on to the Services' endpoints.
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      // The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints validation refuses.
      "--endpoint-reconciler-type=none",
      // A real kubelet's server (logs, exec, port-forward): the API server authenticates with the admin
      // certificate (system:masters) and reaches it at the node's InternalIP.
      `--kubelet-client-certificate=${pki.adminCert}`,
      `--kubelet-client-key=${pki.adminKey}`,
      "--kubelet-preferred-address-types=InternalIP",
      `--default-not-ready-toleration-seconds=${Duration.toSeconds(nodeLifecycle.notReadyToleration)}`,
      `--default-unreachable-toleration-seconds=${Duration.toSeconds(nodeLifecycle.unreachableToleration)}`,
      "--profiling=false",
      "--v=1"
    ], {
      logFolder,
      timeout: Duration.seconds(90),
      ready: api.request("GET", "/readyz")
    })
    const version = yield* api.request<{ gitVersion: string }>("GET", "/version")

    const kubeconfig = join(folder, "admin.kubeconfig")
    writeFileSync(kubeconfig, kubeconfigYaml(server, { caCert: pki.caCert, cert: pki.adminCert, key: pki.adminKey }), {
      mode: 0o600
    })

    yield* daemon("kube-controller-manager", Components.path("kube-controller-manager"), [
      `--kubeconfig=${kubeconfig}`,
      `--controllers=${CONTROLLERS.join(",")}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      "--use-service-account-credentials=false",
      `--node-monitor-period=${seconds(nodeLifecycle.monitorPeriod)}`,
      `--node-monitor-grace-period=${seconds(nodeLifecycle.monitorGracePeriod)}`,
      `--node-eviction-rate=${nodeLifecycle.evictionRate}`,
      `--secondary-node-eviction-rate=${nodeLifecycle.secondaryEvictionRate}`,
      `--unhealthy-zone-threshold=${nodeLifecycle.unhealthyZoneThreshold}`,
      "--v=1"
    ], {
      logFolder,
      timeout: Duration.seconds(60),
      // Ready once it has made the default namespace's ServiceAccount, which every pod needs.
      ready: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
    })

    // The scheduler binds the pods of Deployments to the nodes (a real kubelet runs only pods bound to it).
    yield* daemon("kube-scheduler", Components.path("kube-scheduler"), [
      `--kubeconfig=${kubeconfig}`,
      // Its own requests' authentication and authorization (delegated to the API server), as kubeadm sets them.
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${schedulerPort}`,
      "--profiling=false",
      "--v=1"
    ], {
      logFolder,
      timeout: Duration.seconds(60),
      // /healthz is always allowed (--authorization-always-allow-paths' default).
      ready: httpsOk(`https://127.0.0.1:${schedulerPort}/healthz`)
    })

    return { kubeconfig, connection, api, folder, version: version.gitVersion, pki, nodeLifecycle }
  })
