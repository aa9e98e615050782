/**
 * A real Kubernetes node on this machine: the kubelet v1.37 built from k8s.io/kubernetes, registered with
 * the harness's kube-apiserver (a client certificate of `system:node:<name>`, which the Node authorizer
 * knows), running its pods with containerd 2 and runc built from their Go modules, CNI bridge and
 * host-local from Debian's containernetworking-plugins. Each pod has its own network namespace and an
 * address of the node's pod CIDR `10.244.N.0/24`, on a bridge whose own address `10.244.N.1` is the
 * node's IP; `10.244.0.0/16` is blackholed in the machine's namespace, so nothing addressed to a pod can
 * leave the machine, and the pods have no route but their /24.
 *
 * Services: kube-proxy (nftables mode) runs beside the kubelet, and the pods have a route for the
 * ClusterIP range through the node's address. Packets that come in on the node's bridge may be forwarded
 * (`net.ipv4.conf.<bridge>.forwarding`, that interface only: the machine's `ip_forward` stays off), and an
 * iptables rule drops whatever would be forwarded from it to any interface but a node's bridge; the
 * ClusterIP range is blackholed like the pods' (kube-proxy rewrites a Service's packets before routing).
 *
 * Two scoped steps: {@link network} (the bridge, the routes and the forwarding; first, since CoreDNS must
 * listen on the node's address before the kubelet names it as the pods' DNS) and {@link make}
 * (containerd, the images, the kubelet, kube-proxy). Closing the scope undoes everything: the node's pods
 * are deleted and the kubelet tears them down, then kube-proxy, the kubelet and containerd stop by their
 * pids, whatever is left in the node's cgroups and the shims of its containerd are killed by pid, its
 * mounts unmounted, its cgroups removed, kube-proxy's nftables tables deleted, the iptables chains and
 * rules the kubelet added and the kernel settings it changed put back, the bridge and the blackholes
 * removed.
 *
 * Needs root (as the tests run here). The components come from scripts/install-test-deps.sh.
 *
 * This module is the node's API and puts its parts together, each in `internal/`: the network
 * (`nodeNetwork`), the checks before anything starts (`nodePreflight`), what the node changes on the machine
 * and how it is undone (`machineChanges`), containerd (`containerd`) and its images (`nodeImages`), the
 * kubelet and its Node's registration (`kubelet`), kube-proxy (`kubeProxy`), the freezer of a node failure
 * (`freezer`) and what is left of pods (`leftovers`); the configuration files are `nodeConfig`'s.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "./Components.js"
import { type ControlPlane, SERVICE_CIDR } from "./ControlPlane.js"
import { startContainerd } from "./internal/containerd.js"
import { stopDaemon } from "./internal/daemon.js"
import { cgroupFreezer } from "./internal/freezer.js"
import * as Host from "./internal/host.js"
import { awaitNodeReady, drainPodsOnClose, startKubelet } from "./internal/kubelet.js"
import { startKubeProxy } from "./internal/kubeProxy.js"
import { type Leftovers, readLeftovers } from "./internal/leftovers.js"
import { undoMachineChangesOnClose } from "./internal/machineChanges.js"
import { cniConfig, type NodeLayout } from "./internal/nodeConfig.js"
import type { NodeError } from "./internal/nodeError.js"
import { type ExtraImage, importImages } from "./internal/nodeImages.js"
import { type Network, POD_SUPERNET } from "./internal/nodeNetwork.js"
import { CNI_BIN_DIR, preflight } from "./internal/nodePreflight.js"

// Parts of the public API whose home is the part of the node they belong to.
export type { Leftovers } from "./internal/leftovers.js"
export { NodeError } from "./internal/nodeError.js"
export type { ExtraImage } from "./internal/nodeImages.js"
export { network, POD_SUPERNET } from "./internal/nodeNetwork.js"
export type { Network } from "./internal/nodeNetwork.js"

/** How to run the node. */
export interface Options {
  /** The node's folder (created): its configuration, containerd's root and state, the kubelet's root, logs. */
  readonly folder: string
  readonly controlPlane: ControlPlane
  readonly network: Network
  /** The node's name; `node-<N>` by default. */
  readonly name?: string
  /** The pods' DNS servers (the kubelet's `clusterDNS`); the node's address by default (CoreDNS serves there). */
  readonly clusterDns?: ReadonlyArray<string>
  /** How long the kubelet has to register its Node and have it Ready (60 s by default). */
  readonly readyTimeout?: Duration.Input
  /**
   * Run kube-proxy for the machine (true by default). The nodes of one machine share its network
   * namespace, and so one kube-proxy serves them all: a second node sets false.
   */
  readonly kubeProxy?: boolean
  /** More images to import beside pause and agnhost (OCI archives, e.g. the Miroir image); never pulled. */
  readonly extraImages?: ReadonlyArray<ExtraImage>
}

/** A running node. */
export interface Node {
  readonly name: string
  readonly network: Network
  readonly folder: string
  /** containerd's socket. */
  readonly containerdSocket: string
  /** The folder of the sandboxes' network namespaces (containerd's state dir). */
  readonly netnsFolder: string
  /** The kubelet's cgroup root. */
  readonly cgroupRoot: string
  /** The images the node has (imported, never pulled): the sandbox and agnhost. */
  readonly images: { readonly pause: string; readonly agnhost: string }
  /** Runs `ctr` against the node's containerd, in the CRI's namespace (`k8s.io`); returns its output. */
  readonly ctr: (args: ReadonlyArray<string>) => Effect.Effect<string, Host.HostCommandError>
  readonly leftovers: Effect.Effect<Leftovers, Host.HostCommandError>
  /** The kubelet's and containerd's logs. */
  readonly logs: { readonly kubelet: string; readonly containerd: string }
  /**
   * A node failure, part one: stops the kubelet (SIGTERM, by its pid); its Node gets no heartbeat any more,
   * and its containers run on. The scope's end still cleans everything up.
   */
  readonly stopKubelet: Effect.Effect<void>
  /**
   * A node failure, part two: freezes every process of the node's pods (cgroup v1 freezer, the node's
   * cgroup root): they hold their sockets but answer nothing, as on a machine that hangs. {@link thaw}
   * undoes it; the scope's end thaws them before it kills them.
   */
  readonly freeze: Effect.Effect<void, NodeError>
  readonly thaw: Effect.Effect<void>
}

/** Starts containerd and the kubelet of a node on `network`; waits until its Node is Ready. */
export const make = (options: Options): Effect.Effect<Node, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    const images = yield* preflight
    const { controlPlane, network: net } = options
    const name = options.name ?? `node-${net.index}`
    const folder = options.folder
    const bin = Components.binFolder()
    const layout: NodeLayout = {
      name,
      folder,
      containerdRoot: join(folder, "containerd", "root"),
      containerdState: join(folder, "containerd", "state"),
      containerdSocket: join(folder, "containerd", "containerd.sock"),
      runcRoot: join(folder, "containerd", "runc"),
      runc: join(bin, "runc"),
      cniConfDir: join(folder, "cni", "net.d"),
      ipamDataDir: join(folder, "cni", "networks"),
      cniBinDir: CNI_BIN_DIR,
      sandboxImage: images.pause.ref,
      kubeletRoot: join(folder, "kubelet"),
      podLogsDir: join(folder, "pod-logs"),
      cgroupRoot: `/miroir-n${net.index}`
    }
    const logFolder = join(folder, "logs")
    for (
      const dir of [
        logFolder,
        layout.containerdRoot,
        layout.containerdState,
        layout.cniConfDir,
        layout.kubeletRoot,
        layout.podLogsDir
      ]
    ) {
      mkdirSync(dir, { recursive: true })
    }

    // What the node changes on the machine, recorded first so that it is undone last.
    yield* undoMachineChangesOnClose(layout, net.networkName)

    // containerd
    const env = { PATH: `${bin}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`, HOME: process.env.HOME }
    const { ctr, daemon: containerd } = yield* startContainerd(layout, logFolder, env)

    // The images, imported from the install script's OCI archives (nothing is pulled).
    yield* importImages(ctr, [images.pause, images.agnhost, ...(options.extraImages ?? [])])

    // CNI: the network's configuration (the bridge exists; containerd reports the network ready once it reads this).
    const kubeProxy = options.kubeProxy ?? true
    writeFileSync(
      join(layout.cniConfDir, "10-miroir.conflist"),
      cniConfig({ ...net, clusterDns: [], routes: [POD_SUPERNET, SERVICE_CIDR] }, layout)
    )

    // Last to stop before containerd: the node's containers, should the kubelet have left any.
    yield* Effect.addFinalizer(() =>
      Host.killCgroup(layout.cgroupRoot).pipe(
        Effect.flatMap((n) =>
          n === 0 ? Effect.void : Effect.logInfo(`node ${name}: killed ${n} container process(es) left`)
        )
      )
    )

    // The kubelet: its client certificate from the cluster CA, registering its Node.
    const kubelet = yield* startKubelet({
      layout,
      controlPlane,
      network: net,
      clusterDns: options.clusterDns ?? [net.address],
      logFolder,
      env
    })

    let kubeletStopped = false
    // First to run when the scope closes, while the kubelet still runs: delete the node's pods at once and
    // let the kubelet tear them down (containers, sandboxes, CNI DEL), so that what follows finds nothing.
    yield* drainPodsOnClose(controlPlane.api, name, ctr, () => kubeletStopped)

    // The freezer state of the node's cgroup root: thawed first when the scope closes (a frozen process
    // cannot die, and so neither can its cgroup be removed).
    const { freeze, thaw } = yield* cgroupFreezer(layout.cgroupRoot, name)

    if (kubeProxy) {
      yield* startKubeProxy({
        name,
        address: net.address,
        folder,
        logFolder,
        kubeconfig: controlPlane.kubeconfig,
        env
      })
    }

    // Registered and Ready (the runtime and its network ready).
    yield* awaitNodeReady(controlPlane.api, name, options.readyTimeout ?? Duration.seconds(60), {
      kubelet,
      containerd
    })

    // netns_mounts_under_state_dir: the CRI plugin's state dir (containerd's own, then io.containerd.grpc.v1.cri).
    const netnsFolder = join(layout.containerdState, "io.containerd.grpc.v1.cri", "netns")
    const leftovers = readLeftovers(ctr, net.bridge, netnsFolder, join(layout.ipamDataDir, net.networkName))

    return {
      name,
      network: net,
      folder,
      containerdSocket: layout.containerdSocket,
      netnsFolder,
      cgroupRoot: layout.cgroupRoot,
      images: { pause: images.pause.ref, agnhost: images.agnhost.ref },
      ctr,
      leftovers,
      logs: { kubelet: kubelet.log, containerd: containerd.log },
      stopKubelet: Effect.suspend(() => {
        kubeletStopped = true
        return stopDaemon(kubelet)
      }),
      freeze,
      thaw
    }
  })
