import { describe, expect, it } from "@effect/vitest"
import { referenceOwnedShards } from "@miroir/test-support/referenceOwner"
import { Duration, Effect, Fiber, Logger, Metric, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as DnsResolver from "../src/DnsResolver.js"
import { DnsLookupError } from "../src/DnsLookupError.js"
import * as Metrics from "../src/Metrics.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerHealth from "../src/PeerHealth.js"
import * as Rendezvous from "../src/Rendezvous.js"
import {
  DOMAIN,
  environment,
  lookupCount,
  peersOf,
  podIds,
  pods,
  SRV_NAME,
  srvFor,
  startWith
} from "./support/fixtures.js"

const INTERVAL = Duration.seconds(15)
const MAX_JITTERED = Duration.times(INTERVAL, 1.2)

/** Moves the clock; every sleep due on the way wakes at its own time, in order. */
const advance = (duration: Duration.Input) => TestClock.adjust(duration)

describe("PeerDiscovery", () => {
  it.effect("looks the peers up while the layer is built", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      expect(yield* dns.lookups(SRV_NAME)).toBe(1)
      const set = yield* discovery.current
      expect(set.peers).toEqual(podIds(3))
      expect(set.self).toBe("10-0-0-1")
      expect(set.selfInDns).toBe(true)
      expect(set.stale).toBe(false)
      expect(Option.isSome(set.refreshedAt)).toBe(true)
      expect(yield* Metric.value(Metrics.peerPodCount)).toEqual(expect.objectContaining({ value: 3 }))
      expect(yield* Metric.value(Metrics.selfInDns)).toEqual(expect.objectContaining({ value: 1 }))
    }).pipe(Effect.provide(environment())))

  it.effect("refreshes every interval with ±20% jitter", () =>
    Effect.gen(function*() {
      const { dns } = yield* startWith(pods(3))
      const gaps: Array<number> = []
      let last = 0
      let elapsed = 0
      while (gaps.length < 8) {
        yield* TestClock.adjust("250 millis")
        elapsed += 250
        const count = yield* dns.lookups(SRV_NAME)
        if (count > gaps.length + 1) {
          gaps.push(elapsed - last)
          last = elapsed
        }
      }
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(0.8 * 15_000 - 250)
        expect(gap).toBeLessThanOrEqual(1.2 * 15_000 + 250)
      }
      // Jittered: not every gap is the same.
      expect(new Set(gaps).size).toBeGreaterThan(1)
      expect(yield* dns.maxInFlight).toBe(1)
    }).pipe(Effect.provide(environment())))

  it.effect("sees a scale-up from 3 to 5 and a removed pod within one jittered interval", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.setSrv(SRV_NAME, pods(5))
      yield* advance(MAX_JITTERED)
      expect(yield* peersOf(discovery)).toEqual(podIds(5))
      yield* dns.setSrv(SRV_NAME, pods(5).filter((record) => !record.name.startsWith("10-0-0-4.")))
      yield* advance(MAX_JITTERED)
      expect(yield* peersOf(discovery)).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-3", "10-0-0-5"])
    }).pipe(Effect.provide(environment())))

  it.effect("publishes each membership change once, with who joined and who left", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      const changesBefore = (yield* Metric.value(Metrics.membershipChanges)).count
      const collected = yield* discovery.changes.pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      yield* dns.setSrv(SRV_NAME, pods(4))
      yield* advance(MAX_JITTERED)
      yield* advance(MAX_JITTERED) // an unchanged answer publishes nothing
      yield* dns.setSrv(SRV_NAME, pods(4).slice(0, 1).concat(pods(4).slice(2)))
      yield* advance(MAX_JITTERED)
      const changes = yield* Fiber.join(collected)
      expect(changes.map(({ joined, left }) => ({ joined, left }))).toEqual([
        { joined: ["10-0-0-4"], left: [] },
        { joined: [], left: ["10-0-0-2"] }
      ])
      expect((yield* Metric.value(Metrics.membershipChanges)).count - changesBefore).toBe(2)
    }).pipe(Effect.provide(environment())))

  for (const outcome of ["servfail", "refused", "timeout", "error"] as const) {
    it.effect(`keeps the last good set on ${outcome}, marks it stale and counts the outcome`, () =>
      Effect.gen(function*() {
        const { discovery, dns } = yield* startWith(pods(3))
        const before = yield* lookupCount(outcome)
        yield* dns.fail(SRV_NAME, outcome)
        yield* advance(Duration.times(INTERVAL, 3))
        const set = yield* discovery.current
        expect(set.peers).toEqual(podIds(3))
        expect(set.stale).toBe(true)
        expect((yield* lookupCount(outcome)) - before).toBeGreaterThanOrEqual(3)
        const failure = yield* Effect.flip(discovery.refresh)
        expect(failure).toBeInstanceOf(DnsLookupError)
        expect(failure.outcome).toBe(outcome)
      }).pipe(Effect.provide(environment())))
  }

  it.effect("times a lookup out at the lookup timeout and keeps the set", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      const before = yield* lookupCount("timeout")
      yield* dns.setLatency("1 minute")
      yield* dns.setSrv(SRV_NAME, pods(1))
      const refresh = yield* Effect.forkChild(discovery.refresh)
      yield* TestClock.adjust("2999 millis")
      expect(refresh.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const failure = yield* Effect.flip(Fiber.join(refresh))
      expect(failure.outcome).toBe("timeout")
      expect((yield* lookupCount("timeout")) - before).toBe(1)
      expect(yield* peersOf(discovery)).toEqual(podIds(3))
    }).pipe(Effect.provide(environment())))

  it.effect("backs off exponentially from 250 ms after a failure, within the tick, then recovers and resets", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.fail(SRV_NAME, "servfail")
      const step = 25
      // The first tick's lookup fails; its retries follow.
      while ((yield* dns.lookups(SRV_NAME)) < 2) yield* TestClock.adjust(step)
      const lookupTimes: Array<number> = [0]
      let now = 0
      while (now < 8_000) {
        yield* TestClock.adjust(step)
        now += step
        if ((yield* dns.lookups(SRV_NAME)) > lookupTimes.length + 1) lookupTimes.push(now)
      }
      const delays = lookupTimes.slice(1).map((t, i) => t - lookupTimes[i]!)
      // 250, 500, 1000, 2000 ms, each jittered by ±20%; then at most a quarter interval (3.75 s).
      expect(delays.length).toBeGreaterThanOrEqual(4)
      delays.forEach((delay, i) => {
        const expected = Math.min(250 * 2 ** i, 3_750)
        expect(delay).toBeGreaterThanOrEqual(0.8 * expected - step)
        expect(delay).toBeLessThanOrEqual(1.2 * expected + step)
      })
      expect((yield* discovery.current).stale).toBe(true)
      // Recovery: the next retry succeeds, within a capped backoff delay.
      yield* dns.heal(SRV_NAME)
      yield* dns.setSrv(SRV_NAME, pods(4))
      let waited = 0
      while ((yield* discovery.current).stale) {
        yield* TestClock.adjust(step)
        waited += step
      }
      expect(waited).toBeLessThanOrEqual(1.2 * 3_750 + step)
      expect(yield* peersOf(discovery)).toEqual(podIds(4))
      // Reset: no more retries after the success. The next lookup is the next tick's (at most 1.2 R away),
      // and the one after it comes a whole jittered interval later.
      const nextLookup = (after: number) =>
        Effect.gen(function*() {
          let elapsed = 0
          while ((yield* dns.lookups(SRV_NAME)) === after) {
            yield* TestClock.adjust(step)
            elapsed += step
          }
          return elapsed
        })
      const toNextTick = yield* nextLookup(yield* dns.lookups(SRV_NAME))
      expect(toNextTick).toBeLessThanOrEqual(1.2 * 15_000 + step)
      const between = yield* nextLookup(yield* dns.lookups(SRV_NAME))
      expect(between).toBeGreaterThanOrEqual(0.8 * 15_000 - step)
      expect(between).toBeLessThanOrEqual(1.2 * 15_000 + step)
    }).pipe(Effect.provide(environment())))

  it.effect("keeps looking up every tick while DNS fails, and sees the recovery within the tick", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.fail(SRV_NAME, "timeout")
      yield* advance(Duration.times(INTERVAL, 4))
      const during = yield* dns.lookups(SRV_NAME)
      // At least one lookup a quarter interval while it fails: ~4 ticks of 15 s hold 4 × 4 capped retries.
      expect(during).toBeGreaterThanOrEqual(16)
      yield* dns.heal(SRV_NAME)
      yield* dns.setSrv(SRV_NAME, pods(2))
      yield* advance(Duration.times(INTERVAL, 0.3))
      expect(yield* peersOf(discovery)).toEqual(podIds(2))
    }).pipe(Effect.provide(environment())))

  it.effect("takes NXDOMAIN and no data as answers: only self is left, and the set is fresh", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.remove(SRV_NAME)
      // Leaving this pod alone is a large shrink: the first answer is held, the next lookup confirms it.
      yield* discovery.refresh
      expect(yield* peersOf(discovery)).toEqual(podIds(3))
      expect((yield* discovery.current).stale).toBe(false)
      yield* discovery.refresh
      let set = yield* discovery.current
      expect(set.peers).toEqual(["10-0-0-1"])
      expect(set.stale).toBe(false)
      expect(set.selfInDns).toBe(false)
      yield* dns.setSrv(SRV_NAME, pods(2))
      yield* discovery.refresh
      yield* dns.setSrv(SRV_NAME, [])
      const before = yield* lookupCount("nodata")
      yield* discovery.refresh
      yield* discovery.refresh
      set = yield* discovery.current
      expect(set.peers).toEqual(["10-0-0-1"])
      expect((yield* lookupCount("nodata")) - before).toBe(2)
    }).pipe(Effect.provide(environment())))

  it.effect("starts on a DNS failure with just itself, and catches up by retrying", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResolver.DnsResolverTest
      yield* dns.setSrv(SRV_NAME, pods(3))
      yield* dns.fail(SRV_NAME, "servfail")
      const discovery = yield* PeerDiscovery.make
      const set = yield* discovery.current
      expect(set.peers).toEqual(["10-0-0-1"])
      expect(set.stale).toBe(true)
      yield* dns.heal(SRV_NAME)
      yield* advance("1 second")
      expect(yield* peersOf(discovery)).toEqual(podIds(3))
    }).pipe(Effect.provide(environment())))

  it.effect("counts itself in before DNS lists it, and says so", () =>
    Effect.gen(function*() {
      const { discovery } = yield* startWith(pods(3).slice(1))
      const set = yield* discovery.current
      expect(set.peers).toEqual(podIds(3))
      expect(set.selfInDns).toBe(false)
      expect(yield* Metric.value(Metrics.selfInDns)).toEqual(expect.objectContaining({ value: 0 }))
    }).pipe(Effect.provide(environment())))

  it.effect("recognises a StatefulSet pod by its hostname", () =>
    Effect.gen(function*() {
      const { discovery } = yield* startWith(["miroir-2", "miroir-0", "miroir-1"].map((name) => srvFor(name, 3)))
      const set = yield* discovery.current
      expect(set.self).toBe("miroir-1")
      expect(set.peers).toEqual(["miroir-0", "miroir-1", "miroir-2"])
      expect(set.selfInDns).toBe(true)
    }).pipe(Effect.provide(environment({ podName: "miroir-1", podIp: Option.some("10.0.0.7") }))))

  it.effect("ignores and counts targets outside the Service, and merges duplicates", () =>
    Effect.gen(function*() {
      const before = (yield* Metric.value(Metrics.foreignTargets)).count
      const { discovery } = yield* startWith([
        ...pods(2),
        srvFor("10.0.0.2", 2),
        { ...srvFor("10.0.0.2"), port: 7701 },
        { name: "10-0-0-66.other.default.svc.cluster.local", port: 7700, priority: 0, weight: 50, addresses: [] },
        { name: "attacker.example.com", port: 7700, priority: 0, weight: 50, addresses: [] }
      ])
      expect(yield* peersOf(discovery)).toEqual(podIds(2))
      expect((yield* Metric.value(Metrics.foreignTargets)).count - before).toBe(2)
    }).pipe(Effect.provide(environment())))

  const messages: Array<string> = []
  it.effect("warns once when the answer nears the largest a DNS message can carry", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      const many = Array.from({ length: PeerDiscovery.LARGE_ANSWER_WARNING }, (_, i) =>
        srvFor(`10.1.${i >> 8}.${i & 255}`))
      yield* dns.setSrv(SRV_NAME, many)
      yield* discovery.refresh
      yield* discovery.refresh
      expect(messages.filter((message) =>
        message.includes("nears the largest")
      )).toHaveLength(1)
      expect((yield* discovery.current).peers.length).toBe(PeerDiscovery.LARGE_ANSWER_WARNING + 1)
    }).pipe(
      Effect.provide(
        Logger.layer([Logger.make(({ message }) => void messages.push(String(message)))])
      ),
      Effect.provide(environment())
    ))

  it.effect("looks up A and AAAA records of the Service in `a` mode", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResolver.DnsResolverTest
      yield* dns.setAddresses(DOMAIN, ["10.0.0.2", "10.0.0.1", "fd00::5"])
      const discovery = yield* PeerDiscovery.make
      expect(yield* peersOf(discovery)).toEqual(["10-0-0-1", "10-0-0-2", "fd00--5"])
    }).pipe(Effect.provide(environment({ record: "a" }))))

  it.effect("never runs two lookups at once", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.setLatency("2 seconds")
      const refreshes = yield* Effect.all([discovery.refresh, discovery.refresh, discovery.refresh], {
        concurrency: "unbounded"
      }).pipe(Effect.forkChild)
      yield* advance("40 seconds")
      yield* Fiber.join(refreshes)
      expect(yield* dns.maxInFlight).toBe(1)
    }).pipe(Effect.provide(environment())))

  it.effect("survives a defect in a lookup: it is logged and the loop goes on", () =>
    Effect.gen(function*() {
      let calls = 0
      const dying: DnsResolver.Service = {
        resolveSrv: () => {
          calls += 1
          return calls === 2 ? Effect.die(new Error("resolver bug")) : Effect.succeed(pods(calls === 1 ? 2 : 3))
        },
        resolveAddresses: () => Effect.succeed([])
      }
      const discovery = yield* PeerDiscovery.make.pipe(Effect.provideService(DnsResolver.DnsResolver, dying))
      yield* advance(MAX_JITTERED) // the defect
      expect(calls).toBe(2)
      yield* advance(MAX_JITTERED)
      expect(calls).toBe(3)
      expect(yield* peersOf(discovery)).toEqual(podIds(3))
    }).pipe(Effect.provide(PeerDiscoveryConfig.layerTest())))

  it.effect("stops refreshing when its scope closes", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResolver.DnsResolverTest
      yield* dns.setSrv(SRV_NAME, pods(3))
      yield* Effect.scoped(PeerDiscovery.make)
      const count = yield* dns.lookups(SRV_NAME)
      yield* advance(Duration.times(INTERVAL, 3))
      expect(yield* dns.lookups(SRV_NAME)).toBe(count)
    }).pipe(Effect.provide(environment())))

  it.effect("waits for a number of peers, with a timeout", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(2))
      const waiting = yield* Effect.forkChild(discovery.awaitPeers(4, "1 minute"))
      yield* dns.setSrv(SRV_NAME, pods(4))
      yield* advance(MAX_JITTERED)
      expect((yield* Fiber.join(waiting)).peers).toEqual(podIds(4))
      const tooMany = yield* Effect.forkChild(Effect.flip(discovery.awaitPeers(9, "5 seconds")))
      yield* advance("5 seconds")
      const timeout = yield* Fiber.join(tooMany)
      expect(timeout._tag).toBe("PeerWaitTimeout")
      expect(timeout.seen).toBe(4)
      expect(timeout.message).toBe("waited 5s for 9 peers, saw 4")
    }).pipe(Effect.provide(environment())))

  it.effect("feeds ownership: shards move only to the peer that joined", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      const updates = yield* rendezvous.shardChanges(64).pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      const before = yield* rendezvous.ownedShards(64)
      expect(yield* rendezvous.owns("0")).toBe(before.includes(0))
      yield* dns.setSrv(SRV_NAME, pods(4))
      yield* advance(MAX_JITTERED)
      const [first, second] = yield* Fiber.join(updates)
      expect(first!.owned).toEqual(before)
      expect(first!.gained).toEqual(before)
      expect(second!.gained).toEqual([])
      expect(second!.lost.length).toBeGreaterThan(0)
      for (const shard of second!.lost) {
        expect(yield* rendezvous.ownerOf(String(shard))).toBe("10-0-0-4")
      }
      expect(second!.owned).toEqual(before.filter((shard) => !second!.lost.includes(shard)))
    }).pipe(Effect.provide(environment())))

  it.effect("owns nothing while DNS lists others but not this pod, then takes exactly its share", () =>
    Effect.gen(function*() {
      // This pod is 10.0.0.1: starting, DNS lists the three others but not it yet.
      const others = pods(4).slice(1)
      const { discovery, dns } = yield* startWith(others)
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      const updates = yield* rendezvous.shardChanges(64).pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      expect(yield* peersOf(discovery)).toEqual(podIds(4))
      expect(yield* rendezvous.ownedShards(64)).toEqual([])
      const unlistedOwner = yield* rendezvous.ownerOf("0")
      expect(podIds(4).slice(1)).toContain(unlistedOwner)
      expect(yield* rendezvous.owns("0")).toBe(false)
      // Published: the members stay the same, the pod now owns what rendezvous gives it among the four.
      yield* dns.setSrv(SRV_NAME, pods(4))
      yield* advance(MAX_JITTERED)
      const [first, second] = yield* Fiber.join(updates)
      expect(first!.owned).toEqual([])
      const share = referenceOwnedShards(64, "10-0-0-1", podIds(4))
      expect(share.length).toBeGreaterThan(0)
      expect(second!.gained).toEqual(share)
      expect(yield* rendezvous.ownedShards(64)).toEqual(share)
    }).pipe(Effect.provide(environment())))

  it.effect("looks itself up sooner than the ticks until DNS first lists it, then leaves it to the ticks", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(4).slice(1))
      expect((yield* discovery.current).everListed).toBe(false)
      yield* TestClock.adjust("1 second")
      const whileUnlisted = yield* lookupCount("ok")
      // Published: seen within the poll's cap (500 ms), far sooner than a tick (R ± 20%).
      yield* dns.setSrv(SRV_NAME, pods(4))
      yield* TestClock.adjust("600 millis")
      expect((yield* discovery.current).selfInDns).toBe(true)
      const listedAt = yield* lookupCount("ok")
      expect(listedAt).toBeGreaterThan(whileUnlisted)
      // Listed: no more lookups than the ticks make.
      yield* TestClock.adjust("5 seconds")
      expect(yield* lookupCount("ok")).toBe(listedAt)
    }).pipe(Effect.provide(environment())))

  it.effect("keeps its shards when DNS stops listing it after it was listed (leaving, or unready)", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(4))
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      const share = yield* rendezvous.ownedShards(64)
      expect(share).toEqual(referenceOwnedShards(64, "10-0-0-1", podIds(4)))
      yield* dns.setSrv(SRV_NAME, pods(4).slice(1))
      yield* advance(MAX_JITTERED)
      expect((yield* discovery.current).selfInDns).toBe(false)
      expect(yield* rendezvous.ownedShards(64)).toEqual(share)
    }).pipe(Effect.provide(environment())))

  it.effect("owns everything while DNS lists nobody", () =>
    Effect.gen(function*() {
      const { discovery } = yield* startWith([])
      const rendezvous = yield* Rendezvous.make.pipe(
        Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
        Effect.provide(PeerHealth.layerNone)
      )
      expect(yield* rendezvous.ownedShards(16)).toEqual(Array.from({ length: 16 }, (_, shard) => shard))
    }).pipe(Effect.provide(environment())))
})
