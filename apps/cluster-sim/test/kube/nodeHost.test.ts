/**
 * The pure parts of the real node's harness: how a rule of `iptables -S` is split back into arguments (the
 * harness deletes the kubelet's rules with them), and the CNI network it gives containerd.
 */
import { describe, expect, it } from "vitest"
import { iptablesArgs } from "../../src/kube/internal/host.js"
import { cniConfig, type NodeLayout } from "../../src/kube/internal/nodeConfig.js"

describe("iptablesArgs", () => {
  it("splits a rule as iptables prints it, quoted comments kept whole", () => {
    expect(
      iptablesArgs(
        "-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
      )
    ).toEqual([
      "-A",
      "KUBE-FIREWALL",
      "!",
      "-s",
      "127.0.0.0/8",
      "-d",
      "127.0.0.0/8",
      "-m",
      "comment",
      "--comment",
      "block incoming localnet connections",
      "-m",
      "conntrack",
      "!",
      "--ctstate",
      "RELATED,ESTABLISHED,DNAT",
      "-j",
      "DROP"
    ])
    expect(iptablesArgs("-A INPUT -j KUBE-FIREWALL")).toEqual(["-A", "INPUT", "-j", "KUBE-FIREWALL"])
    expect(iptablesArgs("-A X -m comment --comment \"a \\\"quoted\\\" word\" -j RETURN")).toEqual([
      "-A",
      "X",
      "-m",
      "comment",
      "--comment",
      "a \"quoted\" word",
      "-j",
      "RETURN"
    ])
  })
})

describe("cniConfig", () => {
  it("is a bridge that is no gateway and masquerades nothing, with host-local leases in the node's folder and routes through the node's address only", () => {
    const layout = { ipamDataDir: "/tmp/n/cni/networks" } as NodeLayout
    const config = JSON.parse(cniConfig({
      networkName: "miroir-n3",
      bridge: "miroir-n3",
      podCidr: "10.244.3.0/24",
      address: "10.244.3.1",
      clusterDns: [],
      routes: ["10.244.0.0/16", "10.96.0.0/16"]
    }, layout))
    expect(config.name).toBe("miroir-n3")
    expect(config.plugins).toHaveLength(1)
    const [bridge] = config.plugins
    expect(bridge).toMatchObject({ type: "bridge", bridge: "miroir-n3", isGateway: false, ipMasq: false })
    expect(bridge.ipam).toEqual({
      type: "host-local",
      dataDir: "/tmp/n/cni/networks",
      ranges: [[{ subnet: "10.244.3.0/24", gateway: "10.244.3.1" }]],
      // No default route: the other nodes' pods and the Services, through the node.
      routes: [{ dst: "10.244.0.0/16", gw: "10.244.3.1" }, { dst: "10.96.0.0/16", gw: "10.244.3.1" }]
    })
  })
})
