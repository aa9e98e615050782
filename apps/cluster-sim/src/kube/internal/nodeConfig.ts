/**
 * The configuration files of a real node: containerd's (version 3), the CNI network (bridge with
 * host-local IPAM), and the kubelet's KubeletConfiguration. Pure text; the choices and why are in the
 * comments, and the facts behind them in tools/kube/README.md ("A real node").
 */

/** Where the node's files live and how its parts meet. */
export interface NodeLayout {
  /** The node's name (its Node object's). */
  readonly name: string
  /** The node's folder: everything of containerd and the kubelet that can be put somewhere lives here. */
  readonly folder: string
  /** containerd's root (images, snapshots, metadata) and state (sockets, runtime state) folders. */
  readonly containerdRoot: string
  readonly containerdState: string
  /** containerd's gRPC socket (the kubelet's runtime endpoint). */
  readonly containerdSocket: string
  /** runc's state folder (`--root`), instead of /run/containerd/runc. */
  readonly runcRoot: string
  /** The runc binary (Debian's 1.1.5 fails here: the one built from its Go module). */
  readonly runc: string
  /** The CNI configuration folder and the folder of host-local's leases (instead of /var/lib/cni/networks). */
  readonly cniConfDir: string
  readonly ipamDataDir: string
  /** The CNI plugins' folder (Debian's containernetworking-plugins). */
  readonly cniBinDir: string
  /** The sandbox image (pinned: never pulled, never collected). */
  readonly sandboxImage: string
  /** The kubelet's root dir (instead of /var/lib/kubelet) and its pods' log folder (instead of /var/log/pods). */
  readonly kubeletRoot: string
  readonly podLogsDir: string
  /** The kubelet's cgroup root (it must exist in every hierarchy): the node's pods live below it. */
  readonly cgroupRoot: string
}

/** The node's network: its CNI network name, bridge, pod CIDR and the bridge's address (the node's IP). */
export interface NodeNetwork {
  readonly networkName: string
  readonly bridge: string
  /** `10.244.N.0/24`. */
  readonly podCidr: string
  /** `10.244.N.1`: the gateway address host-local reserves, put on the bridge by the harness. */
  readonly address: string
  /** The cluster DNS the kubelet gives the pods (`clusterDNS`). */
  readonly clusterDns: ReadonlyArray<string>
  /**
   * Ranges the pods reach through the node's address, beside their /24: the other nodes' pods (the pods'
   * whole range) and the Services' ClusterIPs, which kube-proxy's rules send on to their endpoints. None:
   * the pods reach only their /24.
   */
  readonly routes?: ReadonlyArray<string>
}

const quote = (value: string) => `'${value}'`

/**
 * containerd's configuration (version 3, containerd 2.x). Found necessary on these machines (tools/kube/README.md):
 * `restrict_oom_score_adj` (no CAP_SYS_RESOURCE: runc cannot lower oom_score_adj), runc from its Go module,
 * cgroupfs (`SystemdCgroup = false`). The rest keeps the node's things in its folder: root, state, runc's
 * root, network namespaces under the state dir (not /var/run/netns); NRI is off (its socket would be
 * /var/run/nri/nri.sock), so is the `opt` plugin (it would make /opt/containerd), and nothing listens on
 * TCP but the CRI streaming server on 127.0.0.1.
 */
export const containerdConfig = (layout: NodeLayout): string =>
  [
    "version = 3",
    `root = ${quote(layout.containerdRoot)}`,
    `state = ${quote(layout.containerdState)}`,
    "disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.internal.v1.opt', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.aufs', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs', 'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing']",
    "",
    "[grpc]",
    `  address = ${quote(layout.containerdSocket)}`,
    "",
    "[ttrpc]",
    `  address = ${quote(`${layout.containerdSocket}.ttrpc`)}`,
    "",
    "[debug]",
    "  level = 'info'",
    "",
    "[plugins]",
    "  [plugins.'io.containerd.cri.v1.runtime']",
    "    restrict_oom_score_adj = true",
    "    netns_mounts_under_state_dir = true",
    "    enable_selinux = false",
    "    [plugins.'io.containerd.cri.v1.runtime'.containerd]",
    "      default_runtime_name = 'runc'",
    "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]",
    "        runtime_type = 'io.containerd.runc.v2'",
    "        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
    `          BinaryName = ${quote(layout.runc)}`,
    `          Root = ${quote(layout.runcRoot)}`,
    "          SystemdCgroup = false",
    "    [plugins.'io.containerd.cri.v1.runtime'.cni]",
    `      bin_dirs = [${quote(layout.cniBinDir)}]`,
    `      conf_dir = ${quote(layout.cniConfDir)}`,
    "      max_conf_num = 1",
    "  [plugins.'io.containerd.cri.v1.images']",
    "    snapshotter = 'overlayfs'",
    "    [plugins.'io.containerd.cri.v1.images'.pinned_images]",
    `      sandbox = ${quote(layout.sandboxImage)}`,
    "  [plugins.'io.containerd.grpc.v1.cri']",
    "    disable_tcp_service = true",
    "    stream_server_address = '127.0.0.1'",
    "    stream_server_port = '0'",
    ""
  ].join("\n")

/**
 * The CNI network: a bridge (made beforehand by the harness, with the node's address) and host-local
 * addresses from the pod CIDR, leases in the node's folder. Not a gateway and no masquerade: the pods get
 * a route to their /24 (which holds the node's address, where the kubelet's probes, the tests and the
 * cluster DNS meet them) and routes to {@link NodeNetwork.routes} through the node's address; no default
 * route, and the plugin leaves `net.ipv4.ip_forward` alone.
 */
export const cniConfig = (network: NodeNetwork, layout: NodeLayout): string =>
  JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: network.networkName,
      plugins: [
        {
          type: "bridge",
          bridge: network.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: layout.ipamDataDir,
            ranges: [[{ subnet: network.podCidr, gateway: network.address }]],
            routes: (network.routes ?? []).map((dst) => ({ dst, gw: network.address }))
          }
        }
      ]
    },
    null,
    2
  )

/** The ports the kubelet listens on: its server (on the node's address) and healthz (loopback). */
export interface KubeletPorts {
  readonly server: number
  readonly healthz: number
}

/**
 * The KubeletConfiguration. Found necessary here: `failCgroupV1: false` (cgroup v1 machines),
 * `cgroupDriver: cgroupfs`, `failSwapOn: false`. The node's cgroup root, root dir and pod logs keep its
 * things apart from the machine's; image garbage collection is off (the images are imported once, never
 * pulled); hard eviction thresholds are low, as the machine is shared and its free memory and disk are not
 * the node's to defend.
 */
export const kubeletConfig = (
  layout: NodeLayout,
  network: NodeNetwork,
  ports: KubeletPorts,
  caCert: string
): string =>
  JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: network.address,
      port: ports.server,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: ports.healthz,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: caCert }
      },
      authorization: { mode: "Webhook" },
      containerRuntimeEndpoint: `unix://${layout.containerdSocket}`,
      cgroupDriver: "cgroupfs",
      cgroupRoot: layout.cgroupRoot,
      cgroupsPerQOS: true,
      failCgroupV1: false,
      failSwapOn: false,
      clusterDomain: "cluster.local",
      clusterDNS: network.clusterDns,
      // The pods' DNS is the cluster's alone: nothing of the machine's resolv.conf (searches, servers).
      resolvConf: "",
      podLogsDir: layout.podLogsDir,
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: {
        "memory.available": "50Mi",
        "nodefs.available": "1%",
        "nodefs.inodesFree": "1%",
        "imagefs.available": "1%"
      },
      rotateCertificates: false,
      serverTLSBootstrap: false,
      shutdownGracePeriod: "0s",
      registerNode: true
    },
    null,
    2
  )

/** How kube-proxy runs on a node. */
export interface KubeProxyLayout {
  /** The node's name (kube-proxy reads its Node). */
  readonly name: string
  /** The node's address: the only one NodePorts would listen on. */
  readonly address: string
  /** The pods' whole range (every node's /24): traffic from it is the cluster's own. */
  readonly clusterCidr: string
  readonly kubeconfig: string
  readonly healthzPort: number
  readonly metricsPort: number
}

/**
 * kube-proxy's KubeProxyConfiguration: nftables mode, so that everything it programs is the two tables
 * `ip kube-proxy` and `ip6 kube-proxy`, which the harness deletes when the node stops. `masqueradeAll`:
 * a pod's connection to a Service is source-NATed to the node's address, so that the answer of an
 * endpoint on the same bridge comes back through the node (and its connection tracking) whether or not
 * the machine passes bridged traffic through netfilter (br_netfilter). Every conntrack setting is 0,
 * which leaves the machine's kernel settings as they are; `oomScoreAdj` 0, which needs no privilege
 * these machines lack.
 */
export const kubeProxyConfig = (layout: KubeProxyLayout): string =>
  JSON.stringify(
    {
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      mode: "nftables",
      clientConnection: { kubeconfig: layout.kubeconfig },
      hostnameOverride: layout.name,
      healthzBindAddress: `127.0.0.1:${layout.healthzPort}`,
      metricsBindAddress: `127.0.0.1:${layout.metricsPort}`,
      clusterCIDR: layout.clusterCidr,
      detectLocalMode: "ClusterCIDR",
      masqueradeAll: true,
      nodePortAddresses: [`${layout.address}/32`],
      oomScoreAdj: 0,
      conntrack: {
        maxPerCore: 0,
        min: 0,
        tcpEstablishedTimeout: "0s",
        tcpCloseWaitTimeout: "0s",
        udpTimeout: "0s",
        udpStreamTimeout: "0s"
      }
    },
    null,
    2
  )
