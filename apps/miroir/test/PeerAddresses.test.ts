/**
 * Where peers are and who a connection comes from: ids turned back into addresses, hostnames at the
 * addresses the SRV answer gave (kept while they stay in the view), and the sender of a hint recognised
 * without a lookup (or, for a StatefulSet pod outside the view, with a spaced one), over the test
 * resolver, which gives a target's addresses with its SRV record as a server's additional section does.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { Context, Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as PeerAddresses from "../src/PeerAddresses.js"
import { podSettings } from "./support/settings.js"

const { addressOfId, canonical } = PeerAddresses
const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
const srv = (ids: ReadonlyArray<string>) =>
  ids.map((id) => ({ name: `${id}.${DOMAIN}`, port: 7700, priority: 0, weight: 33 }))

describe("PeerAddresses.addressOfId", () => {
  it("turns Deployment ids back into their addresses, IPv4 and both IPv6 forms of CoreDNS, canonical", () => {
    expect(addressOfId("10-244-1-5")).toEqual(Option.some("10.244.1.5"))
    expect(addressOfId("127-0-0-2")).toEqual(Option.some("127.0.0.2"))
    expect(addressOfId("fd00--1")).toEqual(Option.some("fd00::1"))
    expect(addressOfId("fd00--0")).toEqual(Option.some("fd00::"))
    expect(addressOfId("fd00--")).toEqual(Option.some("fd00::"))
    expect(addressOfId("fd00-10-244-0-0-0-0-5")).toEqual(Option.some("fd00:10:244::5"))
  })

  it("gives none for hostnames and anything that is not an address", () => {
    for (const id of ["miroir-0", "miroir-7d9f8c6b5-x2x4q", "10-244-1-256", "10-244-1", "cafe-1", "a", "dead-beef"]) {
      expect(addressOfId(id), id).toEqual(Option.none())
    }
  })

  it("compares addresses as sockets report them: IPv4-mapped IPv6 as IPv4, IPv6 in RFC 5952 form", () => {
    expect(canonical("::ffff:10.0.0.2")).toBe("10.0.0.2")
    expect(canonical("FD00:0:0:0:0:0:0:1")).toBe("fd00::1")
    expect(canonical("10.0.0.2")).toBe("10.0.0.2")
  })
})

/**
 * PeerAddresses over discovery of pod 10.0.0.1 whose DNS lists `ids`; the test
 * resolver's control to script it further.
 */
const addresses = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    const dns = Context.get(dnsContext, DnsResolver.DnsResolverTest)
    yield* dns.setSrv(SRV_NAME, srv(ids))
    const settings = podSettings("10.0.0.1", 0)
    const context = yield* Layer.build(
      PeerAddresses.layer.pipe(
        Layer.provideMerge(PeerDiscovery.layer),
        Layer.provide(Layer.succeedContext(dnsContext)),
        Layer.provide(Layer.succeed(PeerDiscoveryConfig.PeerDiscoveryConfig, settings.discovery))
      )
    )
    return {
      dns,
      service: Context.get(context, PeerAddresses.PeerAddresses),
      discovery: Context.get(context, PeerDiscovery.PeerDiscovery)
    }
  })

const id = PeerId.PeerId

describe("PeerAddresses.senderOf, a Deployment (dashed-IP ids)", () => {
  it.effect("a hint is from the pod it names, from a peer of the view, or from nobody known", () =>
    Effect.gen(function*() {
      const { dns, service } = yield* addresses(["10-0-0-1", "10-0-0-2", "10-0-0-3"])
      const lookups = yield* dns.lookups()
      // The pod it names, in the view or not (a pod that just joined), IPv4-mapped or not.
      expect(yield* service.senderOf(id("10-0-0-2"), "10.0.0.2")).toBe("named")
      expect(yield* service.senderOf(id("10-0-0-9"), "::ffff:10.0.0.9")).toBe("named")
      // Another peer of the view.
      expect(yield* service.senderOf(id("10-0-0-9"), "10.0.0.3")).toBe("peer")
      // Anyone else, whatever it names: a name, an address, this pod itself.
      expect(yield* service.senderOf(id("10-0-0-9"), "10.0.0.66")).toBe("unknown")
      expect(yield* service.senderOf(id("miroir-0"), "10.0.0.66")).toBe("unknown")
      expect(yield* service.senderOf(id("10-0-0-2"), "")).toBe("unknown")
      expect(yield* service.senderOf(id("10-0-0-1"), "10.0.0.1")).toBe("named")
      // And none of it cost a lookup: a Deployment's view holds no hostname to look up.
      expect(yield* dns.lookups()).toBe(lookups)
    }))
})

describe("PeerAddresses.peerAt", () => {
  it.effect("finds the peer of the view at an address, without a lookup: never this pod, nor a stranger", () =>
    Effect.gen(function*() {
      const { discovery, dns, service } = yield* addresses(["10-0-0-1", "10-0-0-2"])
      yield* dns.setAddresses(`miroir-1.${DOMAIN}`, ["10.0.0.11"])
      yield* dns.setSrv(SRV_NAME, srv(["10-0-0-1", "10-0-0-2", "miroir-1"]))
      yield* discovery.refresh
      const lookups = yield* dns.lookups()
      expect(yield* service.peerAt("10.0.0.2")).toEqual(Option.some(id("10-0-0-2")))
      expect(yield* service.peerAt("::ffff:10.0.0.2")).toEqual(Option.some(id("10-0-0-2")))
      expect(yield* service.peerAt("10.0.0.11")).toEqual(Option.some(id("miroir-1")))
      // This pod's own address (10.0.0.1) is no peer's; nor is one outside the view.
      expect(yield* service.peerAt("10.0.0.1")).toEqual(Option.none())
      expect(yield* service.peerAt("10.0.0.66")).toEqual(Option.none())
      expect(yield* service.peerAt("")).toEqual(Option.none())
      expect(yield* dns.lookups()).toBe(lookups)
    }))
})

describe("PeerAddresses, a StatefulSet (hostname ids)", () => {
  it.effect("takes hostnames' addresses from the SRV answer and keeps them while they stay, DNS's drop notwithstanding", () =>
    Effect.gen(function*() {
      const { discovery, dns, service } = yield* addresses([])
      yield* dns.setAddresses(`miroir-1.${DOMAIN}`, ["10.0.0.11"])
      yield* dns.setAddresses(`miroir-2.${DOMAIN}`, ["10.0.0.12"])
      yield* dns.setSrv(SRV_NAME, srv(["miroir-1", "miroir-2"]))
      yield* discovery.refresh
      // DNS drops miroir-2's name as it leaves; its `left` hint still comes from the address it had.
      yield* dns.remove(`miroir-2.${DOMAIN}`)
      expect(yield* service.senderOf(id("miroir-2"), "10.0.0.12")).toBe("named")
      expect(yield* service.senderOf(id("miroir-2"), "10.0.0.11")).toBe("peer")
      expect(yield* service.addressOf("miroir-1")).toBe("10.0.0.11")
      // Not one lookup of a name: the answer carried the addresses.
      expect(yield* dns.lookups(`miroir-1.${DOMAIN}`)).toBe(0)
      expect(yield* dns.lookups(`miroir-2.${DOMAIN}`)).toBe(0)
    }))

  it.effect("looks a hostname up for the audit when the answer gave no address for it", () =>
    Effect.gen(function*() {
      const { discovery, dns, service } = yield* addresses([])
      yield* dns.setSrv(SRV_NAME, [{ ...srv(["miroir-1"])[0]!, addresses: [] }])
      yield* discovery.refresh
      yield* dns.setAddresses(`miroir-1.${DOMAIN}`, ["10.0.0.11"])
      expect(yield* service.addressOf("miroir-1")).toBe("10.0.0.11")
      expect(yield* dns.lookups(`miroir-1.${DOMAIN}`)).toBe(1)
    }))

  it.effect("looks up a hostname outside the view for its hint, at most one per 100 ms, and keeps the answer", () =>
    Effect.gen(function*() {
      const { discovery, dns, service } = yield* addresses([])
      yield* dns.setAddresses(`miroir-1.${DOMAIN}`, ["10.0.0.11"])
      yield* dns.setSrv(SRV_NAME, srv(["miroir-1"]))
      yield* discovery.refresh
      // miroir-3 joined: DNS lists its name (the receiver's view does not yet), and its hint comes from it.
      yield* dns.setAddresses(`miroir-3.${DOMAIN}`, ["10.0.0.13"])
      expect(yield* service.senderOf(id("miroir-3"), "10.0.0.13")).toBe("named")
      // Right after: another unknown name is not looked up (spacing), a known one is kept.
      expect(yield* service.senderOf(id("miroir-4"), "10.0.0.14")).toBe("unknown")
      expect(yield* service.senderOf(id("miroir-3"), "10.0.0.13")).toBe("named")
      expect(yield* dns.lookups(`miroir-3.${DOMAIN}`)).toBe(1)
      expect(yield* dns.lookups(`miroir-4.${DOMAIN}`)).toBe(0)
      // An outsider naming a hostname that does not resolve: one lookup, then kept as unknown.
      yield* TestClock.adjust(PeerAddresses.LOOKUP_SPACING)
      expect(yield* service.senderOf(id("nobody"), "10.0.0.66")).toBe("unknown")
      yield* TestClock.adjust(PeerAddresses.LOOKUP_SPACING)
      expect(yield* service.senderOf(id("nobody"), "10.0.0.66")).toBe("unknown")
      expect(yield* dns.lookups(`nobody.${DOMAIN}`)).toBe(1)
      // Once kept long enough, looked up again.
      yield* TestClock.adjust(PeerAddresses.UNKNOWN_NAME_TTL)
      expect(yield* service.senderOf(id("nobody"), "10.0.0.66")).toBe("unknown")
      expect(yield* dns.lookups(`nobody.${DOMAIN}`)).toBe(2)
    }))
})
