/**
 * Answer integrity and shrink confirmation in PeerDiscovery, on TestClock: a truncated answer is a
 * failure, a large shrink waits for the next lookup, and flapping answers move nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, Metric, References, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as DnsResolver from "../src/DnsResolver.js"
import { DnsLookupError } from "../src/DnsLookupError.js"
import * as Metrics from "../src/Metrics.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerSet from "../src/PeerSet.js"
import * as PeerId from "../src/PeerId.js"
import * as PeerHealth from "../src/PeerHealth.js"
import * as Rendezvous from "../src/Rendezvous.js"
import { environment, lookupCount, peersOf, podIds, pods, SRV_NAME, srvFor, startWith } from "./support/fixtures.js"

const INTERVAL = Duration.seconds(15)
const MAX_JITTERED = Duration.times(INTERVAL, 1.2)
/** A shorter interval for the tests that step the clock through many ticks. */
const SHORT = { refreshInterval: Duration.seconds(2), lookupTimeout: Duration.millis(500) }
const DELAY = PeerDiscovery.confirmationDelay(SHORT.refreshInterval)

const counter = (metric: Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

/** Log lines with their annotations, captured by a logger the test provides. */
const captureLogs = () => {
  const lines: Array<{ message: string; level: string; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ fiber, logLevel, message }) =>
    void lines.push({
      message: String(Array.isArray(message) ? message[0] : message),
      // Effect 4's levels are words ("Warn"); the lines keep the labels of the logs ("WARN").
      level: logLevel.toUpperCase(),
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  )
  return { lines, layer: Logger.layer([logger]) }
}

const setOf = (...ids: ReadonlyArray<string>) =>
  PeerSet.fromAnswer(PeerId.identify(PeerDiscoveryConfig.testSettings), ids.map(PeerId.PeerId), new Date(0))

describe("PeerDiscovery.isLargeShrink", () => {
  it("is more than half of the peers removed, or this pod left alone after it had peers", () => {
    const [a, b, c, d] = podIds(4) as [string, string, string, string]
    expect(PeerDiscovery.isLargeShrink(setOf(a), setOf())).toBe(false)
    expect(PeerDiscovery.isLargeShrink(setOf(a, b), setOf())).toBe(true) // alone
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c), setOf(a, b))).toBe(false) // 1 of 3
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c), setOf(a))).toBe(true) // 2 of 3
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c, d), setOf(a, b))).toBe(false) // 2 of 4: half
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c, d), setOf(a))).toBe(true)
    // Replacing every other peer by new ones also removes more than half.
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c), setOf(a, "x", "y"))).toBe(true)
    expect(PeerDiscovery.isLargeShrink(setOf(a, b, c), setOf(a, b, c, d))).toBe(false)
  })

  it("waits a quarter interval for the confirmation, at most a second", () => {
    expect(Duration.toMillis(PeerDiscovery.confirmationDelay(Duration.seconds(15)))).toBe(1_000)
    expect(Duration.toMillis(PeerDiscovery.confirmationDelay(Duration.millis(500)))).toBe(125)
  })
})

describe("PeerDiscovery: large shrinks", () => {
  it.effect("applies a real scale-down once the confirming lookup agrees, within the tick plus the delay", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(6))
      const confirmed = yield* counter(Metrics.largeShrinksWithResult("confirmed"))
      const lookups = yield* dns.lookups(SRV_NAME)
      yield* dns.setSrv(SRV_NAME, pods(2))
      // Wait for the next tick's lookup (in steps of 10 ms): the answer is held, the set unchanged and not stale.
      while ((yield* dns.lookups(SRV_NAME)) === lookups) yield* TestClock.adjust("10 millis")
      expect(yield* peersOf(discovery)).toEqual(podIds(6))
      expect((yield* discovery.current).stale).toBe(false)
      yield* TestClock.adjust(Duration.subtract(DELAY, Duration.millis(11)))
      expect(yield* peersOf(discovery)).toEqual(podIds(6))
      yield* TestClock.adjust("11 millis")
      expect(yield* peersOf(discovery)).toEqual(podIds(2))
      expect((yield* dns.lookups(SRV_NAME)) - lookups).toBe(2)
      expect((yield* counter(Metrics.largeShrinksWithResult("confirmed"))) - confirmed).toBe(1)
    }).pipe(Effect.provide(environment(SHORT))))

  it.effect("follows NXDOMAIN after a set of peers only when confirmed: then this pod is alone", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(5))
      yield* dns.remove(SRV_NAME)
      yield* TestClock.adjust(Duration.sum(MAX_JITTERED, PeerDiscovery.confirmationDelay(INTERVAL)))
      const set = yield* discovery.current
      expect(set.peers).toEqual(["10-0-0-1"])
      expect(set.stale).toBe(false)
    }).pipe(Effect.provide(environment())))

  it.effect("applies a small shrink at once, without a confirming lookup", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      yield* dns.setSrv(SRV_NAME, pods(2))
      yield* discovery.refresh
      expect(yield* peersOf(discovery)).toEqual(podIds(2))
    }).pipe(Effect.provide(environment())))

  for (const partial of ["a partial answer", "NXDOMAIN", "a truncated answer"] as const) {
    it.effect(`answers alternating between the whole set and ${partial} for 20 lookups move no membership and no ownership`, () =>
      Effect.gen(function*() {
        let calls = 0
        const flapping: DnsResolver.Service = {
          resolveSrv: (name) =>
            Effect.suspend(() => {
              calls += 1
              if (calls % 2 === 1) return Effect.succeed(pods(8))
              switch (partial) {
                case "a partial answer":
                  return Effect.succeed(pods(8).slice(0, 2))
                case "NXDOMAIN":
                  return Effect.fail(new DnsLookupError({ outcome: "nxdomain", name, rrtype: "SRV" }))
                case "a truncated answer":
                  return Effect.fail(new DnsLookupError({ outcome: "truncated", name, rrtype: "SRV", received: 0 }))
              }
            }),
          resolveAddresses: () => Effect.succeed([])
        }
        const discovery = yield* PeerDiscovery.make.pipe(Effect.provideService(DnsResolver.DnsResolver, flapping))
        // After the first lookup, which brought the 8 peers.
        const before = {
          changes: yield* counter(Metrics.membershipChanges),
          unconfirmed: yield* counter(Metrics.largeShrinksWithResult("unconfirmed")),
          confirmed: yield* counter(Metrics.largeShrinksWithResult("confirmed"))
        }
        const rendezvous = yield* Rendezvous.make.pipe(
          Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
          Effect.provide(PeerHealth.layerNone)
        )
        const owned = yield* rendezvous.ownedShards(64)
        const updates = yield* rendezvous.shardChanges(64).pipe(Stream.runCount, Effect.forkChild)
        yield* Effect.yieldNow
        while (calls < 21) yield* TestClock.adjust("50 millis")
        expect(yield* peersOf(discovery)).toEqual(podIds(8))
        expect((yield* counter(Metrics.membershipChanges)) - before.changes).toBe(0)
        expect((yield* counter(Metrics.largeShrinksWithResult("confirmed"))) - before.confirmed).toBe(0)
        if (partial !== "a truncated answer") {
          expect((yield* counter(Metrics.largeShrinksWithResult("unconfirmed"))) - before.unconfirmed)
            .toBeGreaterThanOrEqual(10)
        }
        expect(yield* rendezvous.ownedShards(64)).toEqual(owned)
        // The stream of owned shards emitted only its first value.
        expect(updates.pollUnsafe()).toBeUndefined()
      }).pipe(Effect.provide(PeerDiscoveryConfig.layerTest(SHORT))))
  }

  it.effect("drops a held shrink when the confirming lookup fails, and counts it unconfirmed", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(4))
      const unconfirmed = yield* counter(Metrics.largeShrinksWithResult("unconfirmed"))
      yield* dns.setSrv(SRV_NAME, pods(1))
      yield* discovery.refresh
      yield* dns.fail(SRV_NAME, "servfail")
      yield* Effect.flip(discovery.refresh)
      expect((yield* counter(Metrics.largeShrinksWithResult("unconfirmed"))) - unconfirmed).toBe(1)
      // The next answer starts over: held again, not applied.
      yield* dns.heal(SRV_NAME)
      yield* discovery.refresh
      expect(yield* peersOf(discovery)).toEqual(podIds(4))
      yield* discovery.refresh
      expect(yield* peersOf(discovery)).toEqual(podIds(1))
    }).pipe(Effect.provide(environment())))

  it.effect("a confirming answer that brings back a peer the first one left out does not confirm it", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(6))
      yield* dns.setSrv(SRV_NAME, pods(6).slice(0, 2))
      yield* discovery.refresh
      yield* dns.setSrv(SRV_NAME, [...pods(6).slice(0, 1), ...pods(6).slice(5)])
      yield* discovery.refresh
      // The second answer is itself a large shrink: held in turn, and confirmed by a third that agrees.
      expect(yield* peersOf(discovery)).toEqual(podIds(6))
      yield* discovery.refresh
      expect(yield* peersOf(discovery)).toEqual(["10-0-0-1", "10-0-0-6"])
    }).pipe(Effect.provide(environment())))
})

describe("PeerDiscovery: answer integrity", () => {
  it.effect("keeps the set on a truncated answer, marks it stale, counts it, and logs it once per change", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(3))
      const before = yield* lookupCount("truncated")
      yield* dns.fail(SRV_NAME, "truncated")
      for (let i = 0; i < 4; i++) yield* Effect.flip(discovery.refresh)
      const set = yield* discovery.current
      expect(set.peers).toEqual(podIds(3))
      expect(set.stale).toBe(true)
      expect((yield* lookupCount("truncated")) - before).toBe(4)
      const warnings = logs.lines.filter((line) => line.level === "WARN" && line.message.includes("truncated"))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]!.annotations).toMatchObject({ outcome: "truncated", name: SRV_NAME, kept: 3 })
      yield* dns.heal(SRV_NAME)
      yield* discovery.refresh
      expect(logs.lines.some((line) => line.message === "peer lookups answer again")).toBe(true)
      yield* dns.fail(SRV_NAME, "truncated")
      yield* Effect.flip(discovery.refresh)
      expect(logs.lines.filter((line) => line.level === "WARN" && line.message.includes("truncated"))).toHaveLength(2)
    }).pipe(Effect.provide(logs.layer), Effect.provide(environment()))
  })

  it.effect("drops and counts SRV records with port 0: they are not peers", () =>
    Effect.gen(function*() {
      const before = yield* counter(Metrics.ignoredRecordsWithReason("port_zero"))
      const { discovery } = yield* startWith([...pods(2), { ...srvFor("10.0.0.9"), port: 0 }])
      expect(yield* peersOf(discovery)).toEqual(podIds(2))
      expect((yield* counter(Metrics.ignoredRecordsWithReason("port_zero"))) - before).toBe(1)
    }).pipe(Effect.provide(environment())))

  it.effect("keeps the membership log line bounded: 20 ids, then a count", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(pods(1))
      yield* dns.setSrv(SRV_NAME, pods(101))
      yield* discovery.refresh
      const change = logs.lines.find((line) => line.message === "peer membership changed")!
      expect(change.annotations.joinedCount).toBe(100)
      const joined = String(change.annotations.joined)
      expect(joined.split(",")).toHaveLength(20)
      expect(joined).toMatch(/ \+80 more$/)
    }).pipe(Effect.provide(logs.layer), Effect.provide(environment()))
  })
})
