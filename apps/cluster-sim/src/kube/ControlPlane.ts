/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager, the
 * upstream commands built from their Go modules (see Components), started the way Kubernetes' own
 * integration tests and kubeadm start them, with certificates of our own (internal/pki) and an admin
 * kubeconfig in a temporary folder. Closing the scope stops them by their process ids.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { freePort } from "@miroir/test-support/processes"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "./Components.js"
import { daemon } from "./internal/daemon.js"
import { makePki, type Pki } from "./internal/pki.js"
import { type Connection, make as makeClient, type Service as KubeApiService } from "./KubeApi.js"

/**
 * The controllers the cluster runs: what Deployments, EndpointSlices, garbage collection, eviction
 * budgets and service accounts need (kube-controller-manager's names). No node-lifecycle controller:
 * the process kubelet's Node never goes NotReady, and nothing must taint it.
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
  // The `kube-root-ca.crt` ConfigMap of every namespace: a real kubelet mounts it in every pod's projected
  // service-account volume, and holds the pod in ContainerCreating without it.
  "root-ca-certificate-publisher-controller"
] as const

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

/** Starts etcd, kube-apiserver and kube-controller-manager in `folder`; waits until the API server is ready. */
export const make = (folder: string): Effect.Effect<ControlPlane, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const logFolder = join(folder, "logs")
    yield* Effect.promise(() => mkdir(logFolder, { recursive: true }))
    const pki = yield* Effect.tryPromise({ try: () => makePki(folder), catch: (e) => e as Error })
    const [etcdPort, etcdPeerPort, apiPort, kcmPort] = yield* Effect.promise(() =>
      Promise.all([freePort(), freePort(), freePort(), freePort()])
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
      // ClusterIPs are allocated from this range; nothing is ever sent there (Services are not proxied here).
      "--service-cluster-ip-range=10.96.0.0/16",
      // The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints validation refuses.
      "--endpoint-reconciler-type=none",
      // A real kubelet's server (logs, exec, port-forward): the API server authenticates with the admin
      // certificate (system:masters) and reaches it at the node's InternalIP.
      `--kubelet-client-certificate=${pki.adminCert}`,
      `--kubelet-client-key=${pki.adminKey}`,
      "--kubelet-preferred-address-types=InternalIP",
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
      "--v=1"
    ], {
      logFolder,
      timeout: Duration.seconds(60),
      // Ready once it has made the default namespace's ServiceAccount, which every pod needs.
      ready: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
    })

    return { kubeconfig, connection, api, folder, version: version.gitVersion, pki }
  })
