/**
 * A real node's kubelet: started with a client certificate of `system:node:<name>` from the cluster CA (so
 * that the Node authorizer lets it register its Node), awaited until its Node is Ready, and, when the scope
 * closes, left to tear down the node's pods before anything else stops.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, Option, Schedule, type Scope } from "effect"
import * as Components from "../Components.js"
import { type ControlPlane, kubeconfigYaml } from "../ControlPlane.js"
import { daemon, type Daemon } from "./daemon.js"
import type { Ctr } from "./containerd.js"
import { kubeletConfig, type NodeLayout } from "./nodeConfig.js"
import { failedAt, NodeError } from "./nodeError.js"
import type { Network } from "./nodeNetwork.js"
import { makeClientCert } from "./pki.js"

/** What the kubelet of a node is started with. */
export interface KubeletSetup {
  readonly layout: NodeLayout
  readonly controlPlane: ControlPlane
  readonly network: Network
  /** The pods' DNS servers (the kubelet's `clusterDNS`). */
  readonly clusterDns: ReadonlyArray<string>
  readonly logFolder: string
  readonly env: NodeJS.ProcessEnv
}

/**
 * Makes the kubelet's client certificate and kubeconfig in the node's folder, writes its configuration
 * (free ports for its server and healthz), and starts it in the scope; ready once `/healthz` answers.
 */
export const startKubelet = (setup: KubeletSetup): Effect.Effect<Daemon, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    const { controlPlane, env, layout, logFolder, network: net } = setup
    const { folder, name } = layout
    const pkiFolder = join(folder, "pki")
    mkdirSync(pkiFolder, { recursive: true })
    const cert = yield* Effect.tryPromise({
      try: () =>
        makeClientCert(pkiFolder, "kubelet-client", `/O=system:nodes/CN=system:node:${name}`, controlPlane.pki),
      catch: (e) => failedAt("kubelet certificate")(e as Error)
    })
    const kubeconfig = join(folder, "kubelet.kubeconfig")
    writeFileSync(
      kubeconfig,
      kubeconfigYaml(controlPlane.connection.server, { caCert: controlPlane.pki.caCert, ...cert }),
      { mode: 0o600 }
    )
    const [serverPort, healthzPort] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    const kubeletConfigFile = join(folder, "kubelet.json")
    writeFileSync(
      kubeletConfigFile,
      kubeletConfig(
        layout,
        { ...net, clusterDns: setup.clusterDns },
        { server: serverPort, healthz: healthzPort },
        controlPlane.pki.caCert
      )
    )
    return yield* daemon("kubelet", join(Components.binFolder(), "kubelet"), [
      `--config=${kubeletConfigFile}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${layout.kubeletRoot}`,
      `--hostname-override=${name}`,
      `--node-ip=${net.address}`,
      "--v=2"
    ], {
      logFolder,
      env,
      timeout: Duration.seconds(60),
      ready: Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${healthzPort}/healthz`)
        if (!response.ok) throw new Error(`kubelet /healthz ${response.status}`)
      })
    }).pipe(Effect.mapError(failedAt("kubelet")))
  })

/**
 * Adds the finalizer that runs first when the scope closes, while the kubelet still runs: deletes node
 * `name`'s pods at once and lets the kubelet tear them down (containers, sandboxes, CNI DEL), waiting until
 * containerd (through `ctr`) has no task, so that what follows finds nothing. Once `kubeletStopped()` says
 * the kubelet was stopped, nothing is deleted: a stopped kubelet tears nothing down.
 */
export const drainPodsOnClose = (
  api: ControlPlane["api"],
  name: string,
  ctr: Ctr,
  kubeletStopped: () => boolean
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.addFinalizer(() =>
    Effect.gen(function*() {
      const pods = yield* api.request<
        { items: Array<{ metadata: { namespace: string; name: string } }> }
      >(
        "GET",
        `/api/v1/pods?fieldSelector=spec.nodeName%3D${name}`
      )
      // A stopped kubelet tears nothing down: what follows kills the containers instead.
      if (kubeletStopped()) return
      for (const pod of pods.items) {
        yield* api.request(
          "DELETE",
          `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}?gracePeriodSeconds=0`
        ).pipe(Effect.ignore)
      }
      yield* ctr(["tasks", "list", "--quiet"]).pipe(
        Effect.map((text) => text.trim()),
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(250)), until: (text) => text === "" }),
        Effect.timeoutOption(Duration.seconds(30))
      )
    }).pipe(Effect.catch((error) => Effect.logWarning(`node ${name}: draining: ${error.message}`)))
  )

/**
 * Waits until Node `name` is registered and Ready (the runtime and its network ready), at most `timeout`;
 * fails with the last lines of the kubelet's and containerd's logs otherwise.
 */
export const awaitNodeReady = (
  api: ControlPlane["api"],
  name: string,
  timeout: Duration.Input,
  logs: { readonly kubelet: Daemon; readonly containerd: Daemon }
): Effect.Effect<void, NodeError> =>
  Effect.gen(function*() {
    const ready = yield* api.request<{
      status?: { conditions?: Array<{ type: string; status: string; message?: string }> }
    }>("GET", `/api/v1/nodes/${name}`).pipe(
      Effect.map((node) => node.status?.conditions?.find((c) => c.type === "Ready")),
      // Not registered yet (404), or the API busy: asked again.
      Effect.orElseSucceed(() => undefined),
      Effect.repeat({
        schedule: Schedule.spaced(Duration.millis(250)),
        until: (condition) => condition?.status === "True"
      }),
      Effect.timeoutOption(timeout)
    )
    if (Option.isNone(ready)) {
      return yield* new NodeError({
        step: "registration",
        reason: `Node ${name} not Ready in time; kubelet's log:\n${logs.kubelet.tail(40)}\ncontainerd's log:\n${
          logs.containerd.tail(20)
        }`
      })
    }
  })
