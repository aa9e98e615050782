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
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Data, Duration, Effect, Option, Schedule, type Scope } from "effect"
import * as Components from "./Components.js"
import { type ControlPlane, kubeconfigYaml, SERVICE_CIDR } from "./ControlPlane.js"
import { daemon, stopDaemon } from "./internal/daemon.js"
import * as Host from "./internal/host.js"
import { cniConfig, containerdConfig, kubeletConfig, kubeProxyConfig, type NodeLayout } from "./internal/nodeConfig.js"
import { makeClientCert } from "./internal/pki.js"

/** Something of the node could not be set up; `step` says which, `reason` what went wrong (logs included). */
export class NodeError extends Data.TaggedError("NodeError")<{ readonly step: string; readonly reason: string }> {
  override get message(): string {
    return `real node, ${this.step}: ${this.reason}`
  }
}

/** The range every node's pod CIDR is taken from; blackholed in the machine's namespace. */
export const POD_SUPERNET = "10.244.0.0/16"

/** Debian's containernetworking-plugins. */
const CNI_BIN_DIR = "/usr/lib/cni"

/** A node's network, made by {@link network}. */
export interface Network {
  /** N of `10.244.N.0/24`. */
  readonly index: number
  readonly podCidr: string
  /** `10.244.N.1`, on the bridge: the node's IP, where the host meets the pods. */
  readonly address: string
  /** The bridge (`miroir-nN`) and the CNI network's name (`miroir-nN`, unique on the machine). */
  readonly bridge: string
  readonly networkName: string
}

const fail = (step: string) => (error: { readonly message: string }) => new NodeError({ step, reason: error.message })

const links = () =>
  Host.run("ip", ["-o", "link", "show"]).pipe(
    Effect.map((text) =>
      text.split("\n").map((line) => line.split(": ")[1]?.split("@")[0]).filter((name): name is string =>
        name !== undefined
      )
    )
  )

/**
 * A blackhole route for `cidr` unless the machine has one; removed when the scope closes, once no node's
 * bridge is left (another node's, of this run or another, keeps it).
 */
const blackhole = (cidr: string, routes: string) =>
  routes.split("\n").some((line) => line.startsWith(`blackhole ${cidr}`))
    ? Effect.void
    : Effect.asVoid(Effect.acquireRelease(
      Host.run("ip", ["route", "add", "blackhole", cidr]).pipe(Effect.mapError(fail(`blackhole route ${cidr}`))),
      () =>
        links().pipe(
          Effect.orElseSucceed((): ReadonlyArray<string> => []),
          Effect.flatMap((now) =>
            now.some((name) => /^miroir-n\d+$/.test(name))
              ? Effect.void
              : Host.attempt("ip", ["route", "del", "blackhole", cidr])
          )
        )
    ))

/**
 * Makes the node's bridge with the address `10.244.N.1/24` (N the first index no route or link of the
 * machine uses, or `index`), lets packets that come in on it be forwarded (to Services' endpoints, after
 * kube-proxy's rewrite) but only to a node's bridge, and adds the blackhole routes of {@link POD_SUPERNET}
 * and of the ClusterIP range if the machine has none; undoes all of it when the scope closes (the
 * blackholes only when no other node's bridge is left).
 */
export const network = (index?: number): Effect.Effect<Network, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    if (process.getuid?.() !== 0) {
      return yield* new NodeError({
        step: "network",
        reason: "a real node needs root (bridges, routes, mounts, cgroups)"
      })
    }
    const routes = yield* Host.run("ip", ["-4", "-o", "route", "show", "table", "all"]).pipe(
      Effect.mapError(fail("network"))
    )
    const names = yield* links().pipe(Effect.mapError(fail("network")))
    const taken = (n: number) =>
      names.includes(`miroir-n${n}`) ||
      routes.split("\n").some((line) => /^(\S+ )?10\.244\.(\d+)\./.exec(line)?.[2] === String(n))
    const chosen = index ?? Array.from({ length: 254 }, (_, i) => i).find((n) => !taken(n))
    if (chosen === undefined || taken(chosen)) {
      return yield* new NodeError({
        step: "network",
        reason: `no free /24 in ${POD_SUPERNET} (routes:\n${routes})`
      })
    }
    const bridge = `miroir-n${chosen}`
    const address = `10.244.${chosen}.1`

    yield* blackhole(POD_SUPERNET, routes)
    yield* blackhole(SERVICE_CIDR, routes)
    yield* Effect.acquireRelease(
      Host.run("ip", ["link", "add", "name", bridge, "type", "bridge"]).pipe(
        Effect.andThen(Host.run("ip", ["addr", "add", `${address}/24`, "dev", bridge])),
        Effect.andThen(Host.run("ip", ["link", "set", bridge, "up"])),
        Effect.mapError(fail("bridge"))
      ),
      () => Host.attempt("ip", ["link", "del", bridge])
    )
    // Forwarding on this interface alone (a setting that goes with the bridge), and never off the nodes'
    // bridges: nothing a pod sends can leave the machine.
    const forwardRule = ["FORWARD", "-i", bridge, "!", "-o", "miroir-n+", "-j", "DROP"]
    yield* Effect.acquireRelease(
      Host.run("iptables", ["-w", "5", "-I", ...forwardRule]).pipe(Effect.mapError(fail("forwarding rule"))),
      () => Host.attempt("iptables", ["-w", "5", "-D", ...forwardRule])
    )
    yield* Effect.try({
      try: () => writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, "1"),
      catch: (e) => fail("forwarding")(e as Error)
    })
    return { index: chosen, podCidr: `10.244.${chosen}.0/24`, address, bridge, networkName: bridge }
  })

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

/** An image to import: its archive, the name it has, and the digest a pod may name it by. */
export interface ExtraImage extends Components.Image {
  /**
   * `sha256:…` of its manifest: the image is also named `<repository>@<digest>`. The CRI plugin finds an
   * image by digest only through such a name, which it makes itself for images it pulls, but not for
   * images `ctr images import` loads (seen here: `ErrImageNeverPull` for `repo@sha256:…` of an imported image).
   */
  readonly digest?: string
}

/** `repository` of `repository:tag` (a registry's port is no tag). */
const repositoryOf = (ref: string): string => {
  const colon = ref.lastIndexOf(":")
  return colon > ref.lastIndexOf("/") ? ref.slice(0, colon) : ref
}

/** What is left of pods on the node, for checks that it is clean. */
export interface Leftovers {
  /** containerd tasks (running sandboxes and containers) in the CRI's namespace. */
  readonly tasks: ReadonlyArray<string>
  /** Network namespaces of sandboxes. */
  readonly netns: ReadonlyArray<string>
  /** Interfaces (the pods' veths) on the node's bridge. */
  readonly bridgePorts: ReadonlyArray<string>
  /** Addresses host-local still holds. */
  readonly leases: ReadonlyArray<string>
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

/** The machine's nftables tables (`family name`), to delete the ones kube-proxy made. */
const nftTables = Host.run("nft", ["list", "tables"]).pipe(
  Effect.map((text) =>
    text.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("table ")).map((line) => line.slice(6))
  ),
  Effect.mapError(fail("nftables"))
)

/** Directories of the machine the runtime and the kubelet write to whatever their configuration says. */
const MACHINE_DIRS = [
  "/run/containerd",
  "/var/lib/cni",
  "/var/log/pods",
  "/var/lib/kubelet",
  "/run/nri",
  "/var/run/nri",
  "/opt/containerd"
]

const preflight = Effect.gen(function*() {
  if (process.getuid?.() !== 0) return yield* new NodeError({ step: "preflight", reason: "a real node needs root" })
  const missing = Components.missing(["kubelet", "containerd", "ctr", "containerd-shim-runc-v2", "runc"])
  if (missing.length > 0) {
    return yield* new NodeError({
      step: "preflight",
      reason: `${missing.join(", ")} not built in ${Components.binFolder()}: run scripts/install-test-deps.sh`
    })
  }
  const plugins = ["bridge", "host-local", "loopback"].filter((p) => !existsSync(join(CNI_BIN_DIR, p)))
  if (plugins.length > 0) {
    return yield* new NodeError({
      step: "preflight",
      reason: `CNI plugins ${
        plugins.join(", ")
      } missing in ${CNI_BIN_DIR}: run scripts/install-test-deps.sh (Debian's containernetworking-plugins)`
    })
  }
  return yield* Effect.try({ try: () => Components.images(), catch: (e) => fail("preflight")(e as Error) })
})

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
    const sysctls = Host.readSysctls()
    yield* Effect.addFinalizer(() =>
      Host.restoreSysctls(sysctls).pipe(
        Effect.flatMap((restored) =>
          restored.length === 0 ? Effect.void : Effect.logInfo(`node ${name}: sysctls restored: ${restored.join(", ")}`)
        )
      )
    )
    const iptables = yield* Host.snapshotIptables
    yield* Effect.addFinalizer(() =>
      Host.restoreIptables(iptables).pipe(
        Effect.flatMap((removed) =>
          removed.length === 0 ? Effect.void : Effect.logInfo(`node ${name}: iptables removed: ${removed.join("; ")}`)
        )
      )
    )
    const machineDirsBefore = new Set(MACHINE_DIRS.filter((dir) => existsSync(dir)))
    const shimSocketsBefore = new Set(existsSync("/run/containerd/s") ? readdirSync("/run/containerd/s") : [])
    yield* Host.makeCgroupRoot(layout.cgroupRoot).pipe(Effect.mapError(fail("cgroup root")))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // containerd and the kubelet have stopped (their finalizers ran first): whatever is left.
        yield* Host.killCgroup(layout.cgroupRoot)
        const shims = Host.processesWith((argv) =>
          (argv[0] ?? "").endsWith("containerd-shim-runc-v2") && argv.includes(layout.containerdSocket)
        )
        const killed = yield* Host.killAll(shims)
        if (killed > 0) yield* Effect.logInfo(`node ${name}: killed ${killed} shim(s) left`)
        yield* Effect.sleep(Duration.millis(200))
        yield* Host.unmountUnder(folder)
        const left = yield* Host.removeCgroup(layout.cgroupRoot)
        if (left.length > 0) yield* Effect.logWarning(`node ${name}: cgroups not removed: ${left.join(", ")}`)
        // libcni's result cache (its default folder, which containerd does not let us move).
        const results = "/var/lib/cni/results"
        if (existsSync(results)) {
          for (const file of readdirSync(results).filter((f) => f.startsWith(`${net.networkName}-`))) {
            rmSync(join(results, file), { force: true })
          }
        }
        const shimSockets = "/run/containerd/s"
        if (existsSync(shimSockets)) {
          for (const socket of readdirSync(shimSockets).filter((s) => !shimSocketsBefore.has(s))) {
            rmSync(join(shimSockets, socket), { force: true })
          }
        }
        for (const dir of MACHINE_DIRS.filter((d) => !machineDirsBefore.has(d) && existsSync(d))) {
          // Made by this node (it was not there before): gone with it, once nothing is mounted below.
          yield* Host.unmountUnder(dir)
          rmSync(dir, { recursive: true, force: true })
        }
      })
    )

    // containerd
    const configFile = join(folder, "containerd.toml")
    writeFileSync(configFile, containerdConfig(layout))
    const env = { PATH: `${bin}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`, HOME: process.env.HOME }
    const ctrArgs = ["--address", layout.containerdSocket, "--namespace", "k8s.io"]
    const ctr = (args: ReadonlyArray<string>) =>
      Host.run(join(bin, "ctr"), [...ctrArgs, ...args], { env, timeout: Duration.minutes(2) })
    const containerd = yield* daemon("containerd", join(bin, "containerd"), ["--config", configFile], {
      logFolder,
      env,
      timeout: Duration.seconds(60),
      ready: ctr(["version"])
    }).pipe(Effect.mapError(fail("containerd")))

    // The images, imported from the install script's OCI archives (nothing is pulled).
    const imported = [images.pause, images.agnhost, ...(options.extraImages ?? [])]
    for (const image of imported) {
      yield* ctr(["images", "import", image.archive]).pipe(Effect.mapError(fail(`import of ${image.archive}`)))
    }
    for (const image of options.extraImages ?? []) {
      if (image.digest === undefined) continue
      yield* ctr(["images", "tag", "--force", image.ref, `${repositoryOf(image.ref)}@${image.digest}`]).pipe(
        Effect.mapError(fail(`naming ${image.ref} by its digest ${image.digest}`))
      )
    }
    const present = yield* ctr(["images", "list", "--quiet"]).pipe(Effect.mapError(fail("images")))
    for (const image of imported) {
      if (!present.split("\n").includes(image.ref)) {
        return yield* new NodeError({
          step: "images",
          reason: `${image.ref} is not among containerd's images after the import:\n${present}`
        })
      }
    }

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
    const pkiFolder = join(folder, "pki")
    mkdirSync(pkiFolder, { recursive: true })
    const cert = yield* Effect.tryPromise({
      try: () =>
        makeClientCert(pkiFolder, "kubelet-client", `/O=system:nodes/CN=system:node:${name}`, controlPlane.pki),
      catch: (e) => fail("kubelet certificate")(e as Error)
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
        { ...net, clusterDns: options.clusterDns ?? [net.address] },
        { server: serverPort, healthz: healthzPort },
        controlPlane.pki.caCert
      )
    )
    const kubelet = yield* daemon("kubelet", join(bin, "kubelet"), [
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
    }).pipe(Effect.mapError(fail("kubelet")))

    let kubeletStopped = false
    // First to run when the scope closes, while the kubelet still runs: delete the node's pods at once and
    // let the kubelet tear them down (containers, sandboxes, CNI DEL), so that what follows finds nothing.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const pods = yield* controlPlane.api.request<
          { items: Array<{ metadata: { namespace: string; name: string } }> }
        >(
          "GET",
          `/api/v1/pods?fieldSelector=spec.nodeName%3D${name}`
        )
        // A stopped kubelet tears nothing down: what follows kills the containers instead.
        if (kubeletStopped) return
        for (const pod of pods.items) {
          yield* controlPlane.api.request(
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

    // The freezer state of the node's cgroup root: thawed first when the scope closes (a frozen process
    // cannot die, and so neither can its cgroup be removed).
    const freezerState = join("/sys/fs/cgroup/freezer", layout.cgroupRoot, "freezer.state")
    const setFreezer = (state: "FROZEN" | "THAWED") =>
      Effect.try({
        try: () => writeFileSync(freezerState, state),
        catch: (e) => new NodeError({ step: `freezer (${freezerState})`, reason: (e as Error).message })
      })
    const thaw = setFreezer("THAWED").pipe(
      Effect.catch((error) => Effect.logWarning(`node ${name}: ${error.message}`))
    )
    yield* Effect.addFinalizer(() => existsSync(freezerState) ? thaw : Effect.void)

    if (kubeProxy) {
      // Its nftables tables (`ip kube-proxy`, `ip6 kube-proxy`): deleted once it has stopped (its finalizer,
      // added after this one, runs first).
      const tablesBefore = yield* nftTables
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          const now = yield* nftTables.pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
          const added = now.filter((table) => !tablesBefore.includes(table))
          for (const table of added) yield* Host.attempt("nft", ["delete", "table", ...table.split(" ")])
          if (added.length > 0) yield* Effect.logInfo(`node ${name}: nftables tables deleted: ${added.join(", ")}`)
        })
      )
      const [proxyHealthz, proxyMetrics] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
      const proxyConfigFile = join(folder, "kube-proxy.json")
      writeFileSync(
        proxyConfigFile,
        kubeProxyConfig({
          name,
          address: net.address,
          clusterCidr: POD_SUPERNET,
          kubeconfig: controlPlane.kubeconfig,
          healthzPort: proxyHealthz,
          metricsPort: proxyMetrics
        })
      )
      yield* daemon("kube-proxy", Components.path("kube-proxy"), [`--config=${proxyConfigFile}`, "--v=1"], {
        logFolder,
        env,
        timeout: Duration.seconds(60),
        // 200 once its rules are programmed.
        ready: Effect.tryPromise(async () => {
          const response = await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)
          if (!response.ok) throw new Error(`kube-proxy /healthz ${response.status}`)
        })
      }).pipe(Effect.mapError(fail("kube-proxy")))
    }

    // Registered and Ready (the runtime and its network ready).
    const ready = yield* controlPlane.api.request<{
      status?: { conditions?: Array<{ type: string; status: string; message?: string }> }
    }>("GET", `/api/v1/nodes/${name}`).pipe(
      Effect.map((node) => node.status?.conditions?.find((c) => c.type === "Ready")),
      // Not registered yet (404), or the API busy: asked again.
      Effect.orElseSucceed(() => undefined),
      Effect.repeat({
        schedule: Schedule.spaced(Duration.millis(250)),
        until: (condition) => condition?.status === "True"
      }),
      Effect.timeoutOption(options.readyTimeout ?? Duration.seconds(60))
    )
    if (Option.isNone(ready)) {
      return yield* new NodeError({
        step: "registration",
        reason: `Node ${name} not Ready in time; kubelet's log:\n${kubelet.tail(40)}\ncontainerd's log:\n${
          containerd.tail(20)
        }`
      })
    }

    const leases = join(layout.ipamDataDir, net.networkName)
    // netns_mounts_under_state_dir: the CRI plugin's state dir (containerd's own, then io.containerd.grpc.v1.cri).
    const netnsFolder = join(layout.containerdState, "io.containerd.grpc.v1.cri", "netns")
    const leftovers = Effect.gen(function*() {
      const tasks = (yield* ctr(["tasks", "list", "--quiet"])).split("\n").filter((l) => l.trim() !== "")
      const ports = (yield* Host.run("ip", ["-o", "link", "show", "master", net.bridge])).split("\n").filter((l) =>
        l.trim() !== ""
      )
      const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])
      return {
        tasks,
        netns: list(netnsFolder),
        bridgePorts: ports.map((line) => line.split(": ")[1]?.split("@")[0] ?? line),
        leases: list(leases).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      }
    })

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
      freeze: setFreezer("FROZEN"),
      thaw
    }
  })
