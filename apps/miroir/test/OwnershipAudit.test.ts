/**
 * The ownership audit's rules and loop, on TestClock, with real discovery over the test resolver and
 * in-memory peers behind PeerMessaging: each peer answers from its own view as a pod would, or not.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  PeerHealth,
  DnsResolver,
  PeerDiscovery,
  PeerDiscoveryConfig,
  PeerId,
  PeerSet,
  Rendezvous,
  type ShardOwners
} from "@miroir/peer-discovery"
import { Context, Duration, Effect, Layer, Metric, Option, Ref, Result } from "effect"
import { TestClock } from "effect/testing"
import * as AppMetrics from "../src/AppMetrics.js"
import * as AuditFindings from "../src/AuditFindings.js"
import * as OwnershipAudit from "../src/OwnershipAudit.js"
import { PeerMessaging } from "../src/PeerMessaging.js"
import { PeerUnreachable } from "../src/PeerUnreachable.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)
const SHARDS = 256
const IDS = ["10-0-0-1", "10-0-0-2", "10-0-0-3", "10-0-0-4"]
const AUDITOR = Rendezvous.ownerOf(OwnershipAudit.AUDIT_KEY, IDS)!
const OTHERS = IDS.filter((id) => id !== AUDITOR)
const ipOf = (id: string) => id.replaceAll("-", ".")
const srv = (ids: ReadonlyArray<string>) =>
  ids.map((id) => ({ name: `${id}.${DOMAIN}`, port: 7700, priority: 0, weight: 25 }))

/** How an in-memory peer behaves: answers as `self` from `view`, or is down. */
type FakePeer = { readonly self: string; readonly view: ReadonlyArray<string> } | "down" | "dies"

const answerOf = (peer: FakePeer & object, shards: number) => {
  const view = [...peer.view].sort()
  return {
    self: peer.self,
    peers: view,
    digest: PeerSet.digestOf(view),
    shards,
    owned: Rendezvous.ownedShards(shards, peer.self, view)
  }
}

/** Discovery at `self` over test DNS listing IDS, its ownership, and in-memory peers the test changes. */
const setup = (self: string, interval: Option.Option<Duration.Duration> = Option.none()) =>
  Effect.gen(function*() {
    const dnsContext = yield* Layer.build(DnsResolver.layerTest)
    yield* Context.get(dnsContext, DnsResolver.DnsResolverTest).setSrv(SRV_NAME, srv(IDS))
    const peers = yield* Ref.make(new Map<string, FakePeer>(IDS.map((id) => [id, { self: id, view: IDS }])))
    const asked = yield* Ref.make(0)
    const client = Layer.succeed(PeerMessaging, {
      // The audit sends no hints.
      hintAll: () => Effect.die(new Error("the audit sent a hint")),
      ping: () => Effect.die(new Error("the audit sent a ping")),
      pingVia: () => Effect.die(new Error("the audit asked for a probe")),
      ownership: (peer, shards) =>
        Effect.gen(function*() {
          yield* Ref.update(asked, (n) => n + 1)
          const behaviour = (yield* Ref.get(peers)).get(peer)
          if (behaviour === undefined || behaviour === "down") {
            return yield* new PeerUnreachable({ peer, reason: "no answer within 1s" })
          }
          if (behaviour === "dies") return yield* Effect.die(new Error("a bug in the client"))
          return answerOf(behaviour, shards)
        })
    })
    const discovery = PeerDiscovery.layer.pipe(
      Layer.provide(Layer.succeedContext(dnsContext)),
      Layer.provide(PeerDiscoveryConfig.layerTest({ podIp: Option.some(ipOf(self)), podName: "pod" }))
    )
    const context = yield* Layer.build(
      Layer.effect(OwnershipAudit.OwnershipAudit, OwnershipAudit.make({ interval, shards: SHARDS })).pipe(
        Layer.provide(Layer.mergeAll(Rendezvous.layerDnsOnly.pipe(Layer.provideMerge(discovery)), client))
      )
    )
    const audit = Context.get(context, OwnershipAudit.OwnershipAudit)
    const setPeer = (id: string, behaviour: FakePeer) => Ref.update(peers, (map) => new Map(map).set(id, behaviour))
    return { audit, setPeer, asked: Ref.get(asked) }
  })

const gauge = (metric: Metric.Gauge<number>) => Effect.map(Metric.value(metric), (state) => state.value)

const lastReport = (state: OwnershipAudit.AuditState) => Option.getOrThrow(state.last)

describe("the ownership audit through one round", () => {
  it.effect("finds nothing when every pod agrees, and asks every peer once", () =>
    Effect.gen(function*() {
      const { asked, audit } = yield* setup(AUDITOR)
      const state = yield* audit.runOnce
      expect(state.status).toBe("audited")
      expect(state.auditor).toEqual(Option.some(AUDITOR))
      const report = lastReport(state)
      expect(report).toMatchObject({
        auditor: AUDITOR,
        shards: SHARDS,
        digest: PeerSet.digestOf(IDS),
        peersAsked: 4,
        answered: 4,
        ok: true,
        unowned: { count: 0, shards: [] },
        multiOwned: { count: 0, shards: [] },
        unknownShards: 0,
        unreachable: { count: 0, peers: [] },
        views: { distinct: 1 },
        identityMismatches: { count: 0, peers: [] }
      })
      expect(report.views.views[0]).toMatchObject({ digest: PeerSet.digestOf(IDS), pods: 4, peers: 4 })
      expect(yield* asked).toBe(3)
      expect(yield* gauge(AppMetrics.auditIsAuditor)).toBe(1)
      expect(yield* gauge(AppMetrics.auditDistinctViews)).toBe(1)
      expect(yield* gauge(AppMetrics.auditUnownedShards)).toBe(0)
    }))

  it.effect("a stale view that still holds a departed pod leaves that pod's shards unowned", () =>
    Effect.gen(function*() {
      const { audit, setPeer } = yield* setup(AUDITOR)
      // OTHERS[0] still sees a pod that left: it does not claim the shards it would have taken from it.
      yield* setPeer(OTHERS[0]!, { self: OTHERS[0]!, view: [...IDS, "10-0-0-9"] })
      const report = lastReport(yield* audit.runOnce)
      const expectedUnowned = Rendezvous.ownedShards(SHARDS, "10-0-0-9", [...IDS, "10-0-0-9"])
        .filter((shard) => Rendezvous.ownerOf(String(shard), IDS) === OTHERS[0])
      expect(report.ok).toBe(false)
      expect(report.views.distinct).toBe(2)
      expect(report.unowned.count).toBe(expectedUnowned.length)
      expect(report.unowned.count).toBeGreaterThan(0)
      expect(report.unowned.shards).toEqual(expectedUnowned.slice(0, AuditFindings.MAX_LISTED))
      expect(report.multiOwned.count).toBe(0)
      expect(yield* gauge(AppMetrics.auditUnownedShards)).toBe(expectedUnowned.length)
      expect(yield* gauge(AppMetrics.auditDistinctViews)).toBe(2)
    }))

  it.effect("a stale view that misses a new pod claims that pod's shards too: doubly owned, with both owners named", () =>
    Effect.gen(function*() {
      const { audit, setPeer } = yield* setup(AUDITOR)
      const stale = OTHERS[1]!
      yield* setPeer(stale, { self: stale, view: IDS.filter((id) => id !== OTHERS[2]) })
      const report = lastReport(yield* audit.runOnce)
      const doubled = Rendezvous.ownedShards(SHARDS, OTHERS[2]!, IDS)
        .filter((shard) => Rendezvous.ownerOf(String(shard), IDS.filter((id) => id !== OTHERS[2])) === stale)
      expect(report.multiOwned.count).toBe(doubled.length)
      expect(report.multiOwned.count).toBeGreaterThan(0)
      expect(report.multiOwned.shards[0]).toEqual({ shard: doubled[0], owners: [stale, OTHERS[2]].sort() })
      expect(report.unowned.count).toBe(0)
      expect(report.views.distinct).toBe(2)
    }))

  it.effect("a peer that does not answer is named with the reason; its shards count as unknown, not unowned", () =>
    Effect.gen(function*() {
      const { audit, setPeer } = yield* setup(AUDITOR)
      yield* setPeer(OTHERS[0]!, "down")
      const report = lastReport(yield* audit.runOnce)
      expect(report.unreachable).toEqual({ count: 1, peers: [{ peer: OTHERS[0], reason: "no answer within 1s" }] })
      expect(report.answered).toBe(3)
      expect(report.unknownShards).toBe(Rendezvous.ownedShards(SHARDS, OTHERS[0]!, IDS).length)
      expect(report.unowned.count).toBe(0)
      expect(report.ok).toBe(false)
      expect(yield* gauge(AppMetrics.auditUnreachablePeers)).toBe(1)
    }))

  it.effect("a pod that does not recognise itself answers under another id: named, with the view it holds", () =>
    Effect.gen(function*() {
      const { audit, setPeer } = yield* setup(AUDITOR)
      const lost = OTHERS[1]!
      // Its POD_IP does not match its SRV target: it counts itself in under its fallback id as well.
      yield* setPeer(lost, { self: "10-0-0-99", view: [...IDS, "10-0-0-99"] })
      const report = lastReport(yield* audit.runOnce)
      expect(report.identityMismatches).toEqual({ count: 1, peers: [{ peer: lost, answeredAs: "10-0-0-99" }] })
      expect(report.views.distinct).toBe(2)
      expect(report.unowned.count + report.multiOwned.count).toBeGreaterThan(0)
      expect(yield* gauge(AppMetrics.auditIdentityMismatches)).toBe(1)
    }))

  it.effect("lists stay bounded while the counts stay complete", () =>
    Effect.gen(function*() {
      const { audit, setPeer } = yield* setup(AUDITOR)
      // Every other pod sees only itself: it claims every shard.
      for (const id of OTHERS) yield* setPeer(id, { self: id, view: [id] })
      const report = lastReport(yield* audit.runOnce)
      expect(report.multiOwned.count).toBe(SHARDS)
      expect(report.multiOwned.shards).toHaveLength(AuditFindings.MAX_LISTED)
      expect(report.multiOwned.shards[0]!.owners.length).toBeGreaterThanOrEqual(3)
      expect(report.views.distinct).toBe(4)
    }))

  it.effect("a pod that is not the auditor says who is, and reports no findings in its gauges", () =>
    Effect.gen(function*() {
      const { asked, audit } = yield* setup(OTHERS[0]!)
      const state = yield* audit.runOnce
      expect(state).toMatchObject({ status: "not-auditor", auditor: Option.some(AUDITOR), last: Option.none() })
      expect(yield* asked).toBe(0)
      expect(yield* gauge(AppMetrics.auditIsAuditor)).toBe(0)
      expect(yield* gauge(AppMetrics.auditUnownedShards)).toBe(0)
      expect(yield* gauge(AppMetrics.auditDistinctViews)).toBe(0)
    }))
})

describe("the audit loop", () => {
  it.effect("audits every interval from one interval after the start, and survives a round that dies", () =>
    Effect.gen(function*() {
      const interval = Duration.seconds(45)
      const { audit, setPeer } = yield* setup(AUDITOR, Option.some(interval))
      expect((yield* audit.state).status).toBe("pending")
      yield* TestClock.adjust(Duration.seconds(44))
      expect((yield* audit.state).status).toBe("pending")
      yield* TestClock.adjust(Duration.seconds(1))
      const first = yield* audit.state
      expect(first.status).toBe("audited")
      expect(lastReport(first).ok).toBe(true)
      expect(lastReport(first).at).toBe(new Date(45_000).toISOString())
      expect(yield* gauge(AppMetrics.auditLastRunTimestamp)).toBe(45)
      // A fault appears: the next round reports it.
      yield* setPeer(OTHERS[0]!, "down")
      yield* TestClock.adjust(interval)
      expect(lastReport(yield* audit.state).unreachable.count).toBe(1)
      // A round that dies is logged; the loop goes on.
      yield* setPeer(OTHERS[0]!, "dies")
      yield* TestClock.adjust(interval)
      expect(lastReport(yield* audit.state).at).toBe(new Date(90_000).toISOString())
      yield* setPeer(OTHERS[0]!, { self: OTHERS[0]!, view: IDS })
      yield* TestClock.adjust(interval)
      const healed = lastReport(yield* audit.state)
      expect(healed.at).toBe(new Date(180_000).toISOString())
      expect(healed.ok).toBe(true)
    }))

  it.effect("does nothing when off", () =>
    Effect.gen(function*() {
      const { asked, audit } = yield* setup(AUDITOR)
      yield* TestClock.adjust(Duration.minutes(5))
      expect(yield* audit.state).toMatchObject({ status: "disabled", auditor: Option.none(), interval: Option.none() })
      expect(yield* asked).toBe(0)
    }))
})

describe("AuditFindings.evaluate", () => {
  it("does not count answers for another shard count as ownership", () => {
    const expected: ShardOwners.ShardOwners = {
      peers: ["a", "b"],
      shards: 4,
      owner: Int32Array.from([0, 1, 0, 1]),
      score: new BigUint64Array(4)
    }
    const report = AuditFindings.evaluate({
      auditor: "a",
      expected,
      health: PeerHealth.healthy,
      at: new Date(0),
      durationMs: 1,
      peerAnswers: [
        { peer: "a", answer: Result.succeed({ self: "a", peers: ["a", "b"], digest: "x", shards: 4, owned: [0, 2] }) },
        {
          peer: "b",
          answer: Result.succeed({ self: "b", peers: ["a", "b"], digest: "x", shards: 8, owned: [1, 3, 5] })
        }
      ]
    })
    expect(report.unreachable.peers).toEqual([{ peer: "b", reason: "answered for 8 shards, not 4" }])
    expect(report.unknownShards).toBe(2)
    expect(report.unowned.count).toBe(0)
  })
})
