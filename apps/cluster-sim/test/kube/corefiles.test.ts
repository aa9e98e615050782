/**
 * The Corefiles the harness runs, rendered from the upstream files the install script copied from the
 * k8s.io/kubernetes module: kubeadm's exactly as kubeadm writes it, then changed only in the named lines;
 * NodeLocal DNSCache's with its placeholders filled. A change upstream that moves a line the harness edits
 * fails here with the line's name.
 */
import { describe, expect, it } from "vitest"
import * as Components from "../../src/kube/Components.js"
import {
  CorefileShapeError,
  kubeadmCorefile,
  kubeadmServer,
  nodeLocalDnsCorefileTemplate,
  nodeLocalServer
} from "../../src/kube/internal/corefiles.js"

const kubeadm = () => kubeadmCorefile(Components.upstreamFile("manifests.go"), "cluster.local")

describe("kubeadm's Corefile", () => {
  it("is rendered from manifests.go as kubeadm renders it, caching nothing of the cluster domain", () => {
    expect(kubeadm()).toBe(
      [
        ".:53 {",
        "    errors",
        "    health {",
        "       lameduck 5s",
        "    }",
        "    ready",
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
        "       pods insecure",
        "       fallthrough in-addr.arpa ip6.arpa",
        "       ttl 30",
        "    }",
        "    prometheus :9153",
        "    forward . /etc/resolv.conf {",
        "       max_concurrent 1000",
        "    }",
        "    cache 30 {",
        "       disable success cluster.local",
        "       disable denial cluster.local",
        "    }",
        "    loop",
        "    reload",
        "    loadbalance",
        "}",
        ""
      ].join("\n")
    )
  })

  it("changes only where it listens, how it reads the API server and where it forwards", () => {
    const server = {
      kubeconfig: "/k/admin.kubeconfig",
      forwardTo: "127.0.0.1:9",
      metrics: "127.0.0.1:9153"
    }
    const loopback = kubeadmServer(kubeadm(), {
      ...server,
      port: 1053,
      bind: "127.0.0.1",
      probes: { health: "127.0.0.1:8080", ready: "127.0.0.1:8181" }
    })
    expect(loopback.split("\n").slice(0, 17)).toEqual([
      ".:1053 {",
      "    bind 127.0.0.1",
      "    errors",
      "    health 127.0.0.1:8080 {",
      "       lameduck 5s",
      "    }",
      "    ready 127.0.0.1:8181",
      "    kubernetes cluster.local in-addr.arpa ip6.arpa {",
      "       kubeconfig /k/admin.kubeconfig",
      "       pods insecure",
      "       fallthrough in-addr.arpa ip6.arpa",
      "       ttl 30",
      "    }",
      "    prometheus 127.0.0.1:9153",
      "    forward . 127.0.0.1:9 {",
      "       max_concurrent 1000",
      "    }"
    ])
    // The node's block: health and ready once per process (in the loopback block), the rest the same.
    const node = kubeadmServer(kubeadm(), { ...server, port: 53, bind: "10.244.3.1" })
    expect(node).not.toMatch(/health|ready|lameduck/)
    expect(node.split("\n").slice(0, 3)).toEqual([".:53 {", "    bind 10.244.3.1", "    errors"])
    const unchanged = (text: string) => text.split("\n").slice(-9)
    expect(unchanged(node)).toEqual(unchanged(kubeadm()))
    expect(unchanged(loopback)).toEqual(unchanged(kubeadm()))
  })

  it("names the line it cannot find when upstream changed shape", () => {
    const moved = kubeadm().replace("prometheus :9153", "prometheus 0.0.0.0:9153")
    expect(() => kubeadmServer(moved, { kubeconfig: "k", forwardTo: "f", metrics: "m", port: 1, bind: "b" }))
      .toThrow(new CorefileShapeError("kubeadm's Corefile has no line matching /^\\s*prometheus :9153$/"))
  })
})

describe("NodeLocal DNSCache's Corefile", () => {
  it("is the addon's with its placeholders filled: 30 s for answers, 5 s for denials of the cluster domain", () => {
    const corefile = nodeLocalServer(nodeLocalDnsCorefileTemplate(Components.upstreamFile("nodelocaldns.yaml")), {
      localAddress: "10.244.3.1",
      clusterDns: "127.0.0.1:1053",
      upstream: "127.0.0.1:9",
      domain: "cluster.local",
      health: "127.0.0.1:8080",
      metrics: "127.0.0.1:9253"
    })
    expect(corefile.split("\n").slice(0, 15)).toEqual([
      "cluster.local:53 {",
      "    errors",
      "    cache {",
      "            success 9984 30",
      "            denial 9984 5",
      "    }",
      "    reload",
      "    loop",
      "    bind 10.244.3.1",
      "    forward . 127.0.0.1:1053 {",
      "            force_tcp",
      "    }",
      "    prometheus 127.0.0.1:9253",
      "    health 127.0.0.1:8080",
      "    }"
    ])
    expect(corefile).not.toContain("__PILLAR__")
    // Every other name goes to the closed loopback port, nothing outside.
    expect(corefile).toContain(
      ".:53 {\n    errors\n    cache 30\n    reload\n    loop\n    bind 10.244.3.1\n    forward . 127.0.0.1:9\n"
    )
  })
})
