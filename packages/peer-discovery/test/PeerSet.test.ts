import { describe, expect, it } from "vitest"
import { Option } from "effect"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerId from "../src/PeerId.js"
import * as OwnershipView from "../src/OwnershipView.js"
import * as PeerHealth from "../src/PeerHealth.js"
import * as PeerSet from "../src/PeerSet.js"
import { DOMAIN, SRV_NAME } from "./support/fixtures.js"

const at = new Date("2026-11-27T12:00:00Z")
const ids = (...labels: ReadonlyArray<string>) => labels.map(PeerId.PeerId)

/** Whether two sets give the same ownership by DNS's rules alone (nobody held down). */
const sameOwnership = (a: PeerSet.PeerSet, b: PeerSet.PeerSet) =>
  OwnershipView.sameOwnership(OwnershipView.make(a, PeerHealth.healthy), OwnershipView.make(b, PeerHealth.healthy))

describe("PeerId", () => {
  it("builds the SRV name and the Service domain, fully qualified", () => {
    expect(SRV_NAME).toBe("_http._tcp.miroir-headless.default.svc.cluster.local.")
    expect(DOMAIN).toBe("miroir-headless.default.svc.cluster.local.")
    expect(
      PeerId.srvName({
        ...PeerDiscoveryConfig.testSettings,
        portName: "grpc",
        protocol: "udp",
        podNamespace: "prod",
        clusterDomain: "corp"
      })
    )
      .toBe("_grpc._udp.miroir-headless.prod.svc.corp.")
  })

  it("takes the first label of a target, lower-cased, with or without the trailing dot", () => {
    expect(PeerId.fromTarget("10-244-1-5.miroir-headless.default.svc.cluster.local", DOMAIN)).toEqual(
      Option.some("10-244-1-5")
    )
    expect(PeerId.fromTarget("Miroir-0.MIROIR-HEADLESS.default.svc.cluster.local.", DOMAIN)).toEqual(
      Option.some("miroir-0")
    )
  })

  it("refuses targets outside the Service's domain", () => {
    for (
      const target of [
        "10-244-1-5.other.default.svc.cluster.local.",
        "10-244-1-5.miroir-headless.prod.svc.cluster.local.",
        "a.b.miroir-headless.default.svc.cluster.local.",
        "miroir-headless.default.svc.cluster.local.",
        "evil.example.com.",
        "xmiroir-headless.default.svc.cluster.local."
      ]
    ) {
      expect(PeerId.fromTarget(target, DOMAIN), target).toEqual(Option.none())
    }
  })

  it("dashes IPv4 and both IPv6 forms CoreDNS emits", () => {
    expect(PeerId.fromIp("10.244.1.5")).toBe("10-244-1-5")
    expect(PeerId.dashedIpForms("fd00::1")).toEqual(["fd00--1"])
    expect(PeerId.dashedIpForms("fd00:10:244::")).toEqual(["fd00-10-244--0", "fd00-10-244--"])
    expect(PeerId.fromIp("FD00::")).toBe("fd00--0")
  })

  it("recognises a Deployment pod by dashed POD_IP, a StatefulSet or endpoint_pod_names pod by POD_NAME", () => {
    const deployment = PeerId.identify({ podName: "miroir-7d9f8c6b5-x2x4q", podIp: Option.some("10.244.1.5") })
    expect(deployment.fallback).toBe("10-244-1-5")
    expect([...deployment.aliases]).toEqual(["10-244-1-5", "miroir-7d9f8c6b5-x2x4q"])
    const ipv6 = PeerId.identify({ podName: "miroir-0", podIp: Option.some("fd00::") })
    expect(ipv6.aliases.has("fd00--0") && ipv6.aliases.has("fd00--") && ipv6.aliases.has("miroir-0")).toBe(true)
    const noIp = PeerId.identify({ podName: "miroir-0", podIp: Option.none() })
    expect(noIp.fallback).toBe("miroir-0")
  })
})

describe("PeerSet", () => {
  const deployment = PeerId.identify({ podName: "miroir-abc", podIp: Option.some("10.0.0.2") })

  it("keeps the addresses an answer gave for its peers, and those of an earlier one while a peer stays listed", () => {
    const first = PeerSet.fromAnswer(
      deployment,
      ids("miroir-0", "miroir-1"),
      at,
      undefined,
      new Map([[PeerId.PeerId("miroir-0"), ["10.0.0.10"]], [PeerId.PeerId("miroir-1"), ["10.0.0.11"]]])
    )
    expect([...first.addresses]).toEqual([["miroir-0", ["10.0.0.10"]], ["miroir-1", ["10.0.0.11"]]])
    // A larger answer left its additional section out; miroir-1 is gone.
    const second = PeerSet.fromAnswer(deployment, ids("miroir-0", "miroir-2"), at, first)
    expect([...second.addresses]).toEqual([["miroir-0", ["10.0.0.10"]]])
  })

  it("is sorted, without duplicates, and lists self as DNS does", () => {
    const set = PeerSet.fromAnswer(deployment, ids("10-0-0-3", "10-0-0-2", "10-0-0-1", "10-0-0-3"), at)
    expect(set.peers).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-3"])
    expect(set.self).toBe("10-0-0-2")
    expect(set.selfInDns).toBe(true)
    expect(set.refreshedAt).toEqual(Option.some(at))
    expect(set.stale).toBe(false)
  })

  it("always contains self, by its fallback id, while DNS does not list it", () => {
    const set = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1"), at)
    expect(set.peers).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-9"])
    expect(set.self).toBe("10-0-0-2")
    expect(set.selfInDns).toBe(false)
    expect(PeerSet.fromAnswer(deployment, [], at).peers).toEqual(["10-0-0-2"])
  })

  it("computes ownership without self while DNS lists others but not it, and with it otherwise", () => {
    const unlisted = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1"), at)
    expect(PeerSet.ownershipPeers(unlisted)).toEqual(["10-0-0-1", "10-0-0-9"])
    const listed = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-2"), at)
    expect(PeerSet.ownershipPeers(listed)).toEqual(["10-0-0-2", "10-0-0-9"])
    // Nobody listed, or nothing known yet: the pod alone, owning everything.
    expect(PeerSet.ownershipPeers(PeerSet.fromAnswer(deployment, [], at))).toEqual(["10-0-0-2"])
    expect(PeerSet.ownershipPeers(PeerSet.markStale(unlisted))).toEqual(["10-0-0-1", "10-0-0-9"])
    expect(sameOwnership(unlisted, PeerSet.fromAnswer(deployment, ids("10-0-0-1", "10-0-0-9"), at))).toBe(true)
    // Once listed, a pod counts itself in even when an answer leaves it out (leaving, or unready).
    const listedBefore = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-2"), at)
    const leaving = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1"), at, listedBefore)
    expect(leaving.selfInDns).toBe(false)
    expect(leaving.everListed).toBe(true)
    expect(PeerSet.ownershipPeers(leaving)).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-9"])
    // Being listed changes ownership without changing the members.
    const joined = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1", "10-0-0-2"), at)
    expect(PeerSet.sameMembers(unlisted, joined)).toBe(true)
    expect(sameOwnership(unlisted, joined)).toBe(false)
  })

  it("resigns once leaving and unlisted, and keeps its shards while DNS still lists it", () => {
    const listedBefore = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-2"), at)
    const stillListed = PeerSet.markLeaving(listedBefore)
    expect(stillListed.leaving).toBe(true)
    expect(PeerSet.markLeaving(stillListed)).toBe(stillListed)
    // Listed: the others still count it in, so it keeps its shards.
    expect(PeerSet.ownershipPeers(stillListed)).toEqual(["10-0-0-2", "10-0-0-9"])
    expect(sameOwnership(listedBefore, stillListed)).toBe(true)
    // Dropped by DNS: every later answer keeps the flag, and ownership goes without it.
    const dropped = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1"), at, stillListed)
    expect(dropped.leaving).toBe(true)
    expect(dropped.everListed).toBe(true)
    expect(PeerSet.ownershipPeers(dropped)).toEqual(["10-0-0-1", "10-0-0-9"])
    expect(PeerSet.ownershipPeers(PeerSet.markStale(dropped))).toEqual(["10-0-0-1", "10-0-0-9"])
    // Marking an unlisted set as leaving changes its ownership but not its members.
    const unlisted = PeerSet.fromAnswer(deployment, ids("10-0-0-9", "10-0-0-1"), at, listedBefore)
    expect(PeerSet.ownershipPeers(unlisted)).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-9"])
    expect(PeerSet.sameMembers(unlisted, PeerSet.markLeaving(unlisted))).toBe(true)
    expect(sameOwnership(unlisted, PeerSet.markLeaving(unlisted))).toBe(false)
    // DNS lists nobody: alone, it owns everything, leaving or not.
    expect(PeerSet.ownershipPeers(PeerSet.fromAnswer(deployment, [], at, stillListed))).toEqual(["10-0-0-2"])
    expect(PeerSet.initial(deployment).leaving).toBe(false)
  })

  it("finds self under POD_NAME when CoreDNS lists pods by name", () => {
    const set = PeerSet.fromAnswer(deployment, ids("miroir-xyz", "miroir-abc"), at)
    expect(set.self).toBe("miroir-abc")
    expect(set.peers).toEqual(["miroir-abc", "miroir-xyz"])
    expect(set.selfInDns).toBe(true)
  })

  it("finds self under the older IPv6 form of CoreDNS before 1.12.3", () => {
    const identity = PeerId.identify({ podName: "p", podIp: Option.some("fd00::") })
    const set = PeerSet.fromAnswer(identity, ids("fd00--", "fd00--5"), at)
    expect(set.self).toBe("fd00--")
    expect(set.peers).toEqual(["fd00--", "fd00--5"])
  })

  it("computes who joined and who left", () => {
    const before = PeerSet.fromAnswer(deployment, ids("10-0-0-1", "10-0-0-2", "10-0-0-3"), at)
    const after = PeerSet.fromAnswer(deployment, ids("10-0-0-2", "10-0-0-3", "10-0-0-4", "10-0-0-5"), at)
    expect(PeerSet.difference(before, after)).toEqual({ joined: ["10-0-0-4", "10-0-0-5"], left: ["10-0-0-1"] })
    expect(PeerSet.sameMembers(before, after)).toBe(false)
    expect(PeerSet.sameMembers(before, PeerSet.markStale(before))).toBe(true)
  })
})

describe("PeerSet.digest", () => {
  it("is the first 8 hex characters of SHA-256 over the sorted ids joined by newlines, and its 32 bits as a number", async () => {
    const { createHash } = await import("node:crypto")
    const ids = ["10-0-0-1", "10-0-0-2", "10-0-0-3"]
    const expected = createHash("sha256").update("10-0-0-1\n10-0-0-2\n10-0-0-3").digest("hex").slice(0, 8)
    const identity = PeerId.identify({ podName: "pod-a", podIp: Option.some("10.0.0.2") })
    const set = PeerSet.fromAnswer(identity, [...ids].reverse().map(PeerId.PeerId), new Date(0))
    expect(PeerSet.digest(set)).toBe(expected)
    expect(PeerSet.digestOf(ids)).toBe(expected)
    expect(PeerSet.digestNumber(expected)).toBe(Number.parseInt(expected, 16))
    expect(PeerSet.digestNumber("ffffffff")).toBe(4294967295)
  })

  it("is the same for the same peers whoever computes it, and differs when a peer differs", () => {
    const listed = ["10-0-0-1", "10-0-0-2", "10-0-0-3"].map(PeerId.PeerId)
    const a = PeerSet.fromAnswer(PeerId.identify({ podName: "a", podIp: Option.some("10.0.0.1") }), listed, new Date(0))
    const b = PeerSet.fromAnswer(PeerId.identify({ podName: "b", podIp: Option.some("10.0.0.3") }), listed, new Date(5))
    expect(PeerSet.digest(a)).toBe(PeerSet.digest(b))
    // A pod that does not recognise itself adds its fallback id: its view, and digest, differ.
    const lost = PeerSet.fromAnswer(
      PeerId.identify({ podName: "c", podIp: Option.some("10.0.0.9") }),
      listed,
      new Date(0)
    )
    expect(PeerSet.digest(lost)).not.toBe(PeerSet.digest(a))
    expect(PeerSet.digest(PeerSet.markStale(a))).toBe(PeerSet.digest(a))
  })
})
