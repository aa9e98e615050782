/**
 * Refresh hints on TestClock with the in-memory resolver: a hint only causes lookups, which follow it
 * with a backoff until DNS agrees or its budget ends; many hints are coalesced and spaced.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Metric, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as DnsResolver from "../src/DnsResolver.js"
import * as Hint from "../src/Hint.js"
import * as Metrics from "../src/Metrics.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerId from "../src/PeerId.js"
import { podIds, pods, SRV_NAME } from "./support/fixtures.js"

/** Long, so that no tick comes during a test: every lookup after the first is a hint's. */
const INTERVAL = Duration.seconds(60)
const BUDGET = Hint.budget(INTERVAL)

const environment = Layer.merge(DnsResolver.layerTest, PeerDiscoveryConfig.layerTest({ refreshInterval: INTERVAL }))

const startWith = (n: number) =>
  Effect.gen(function*() {
    const dns = yield* DnsResolver.DnsResolverTest
    yield* dns.setSrv(SRV_NAME, pods(n))
    const discovery = yield* PeerDiscovery.make
    // Let the forked fibers start.
    yield* TestClock.adjust(0)
    return { dns, discovery, lookups: () => dns.lookups(SRV_NAME) }
  })

const joined = (n: number): Hint.Hint => ({ kind: "joined", peer: PeerId.PeerId(`10-0-0-${n}`) })
const left = (n: number): Hint.Hint => ({ kind: "left", peer: PeerId.PeerId(`10-0-0-${n}`) })
const peers = (discovery: PeerDiscovery.Service) => Effect.map(discovery.current, (set) => set.peers)
const ended = (end: Metrics.HintEnd) => Effect.map(Metric.value(Metrics.hintsEndedWith(end)), (s) => s.count)

describe("PeerDiscovery hints", () => {
  it.effect("a joined hint DNS confirms is followed by one lookup, which applies the answer", () =>
    Effect.gen(function*() {
      const { discovery, dns, lookups } = yield* startWith(3)
      yield* dns.setSrv(SRV_NAME, pods(4))
      const confirmed = yield* ended("confirmed")
      expect(yield* discovery.hint(joined(4))).toBe("following")
      yield* TestClock.adjust(0)
      expect(yield* lookups()).toBe(2)
      expect(yield* peers(discovery)).toEqual(podIds(4))
      expect(yield* ended("confirmed")).toBe(confirmed + 1)
      // Confirmed: no more lookups until the tick.
      yield* TestClock.adjust("20 seconds")
      expect(yield* lookups()).toBe(2)
    }).pipe(Effect.provide(environment)))

  it.effect("a hint the set already agrees with costs no lookup", () =>
    Effect.gen(function*() {
      const { discovery, lookups } = yield* startWith(3)
      expect(yield* discovery.hint(joined(2))).toBe("agreed")
      expect(yield* discovery.hint(left(9))).toBe("agreed")
      expect(yield* discovery.hint(left(1))).toBe("agreed") // about this pod itself
      yield* TestClock.adjust("5 seconds")
      expect(yield* lookups()).toBe(1)
    }).pipe(Effect.provide(environment)))

  it.effect("a hint DNS does not confirm changes nothing and is followed with a backoff until its budget ends", () =>
    Effect.gen(function*() {
      const { discovery, lookups } = yield* startWith(3)
      const expired = yield* ended("expired")
      expect(yield* discovery.hint(left(2))).toBe("following")
      const at: Array<number> = []
      for (let ms = 0; ms <= Duration.toMillis(BUDGET) + 2_000; ms += 50) {
        const before = yield* lookups()
        yield* TestClock.adjust(ms === 0 ? 0 : 50)
        if ((yield* lookups()) > before) at.push(ms)
      }
      expect(yield* peers(discovery)).toEqual(podIds(3))
      // 0, 100, 300, 700, 1500, then every second (the cap) until the budget (10 s) ends.
      expect(at.slice(0, 5)).toEqual([0, 100, 300, 700, 1500])
      const gaps = at.slice(5).map((t, i) => t - at[4 + i]!)
      expect(gaps.every((gap) => gap === Duration.toMillis(Hint.HINT_BACKOFF_CAP))).toBe(true)
      expect(at.at(-1)!).toBeLessThanOrEqual(Duration.toMillis(BUDGET))
      expect(yield* ended("expired")).toBe(expired + 1)
    }).pipe(Effect.provide(environment)))

  it.effect("a backoff ends as soon as DNS agrees", () =>
    Effect.gen(function*() {
      const { discovery, dns, lookups } = yield* startWith(4)
      yield* discovery.hint(left(4))
      yield* TestClock.adjust("350 millis") // lookups at 0, 100, 300: DNS still lists 10-0-0-4 (a cache)
      expect(yield* lookups()).toBe(4)
      yield* dns.setSrv(SRV_NAME, pods(3))
      yield* TestClock.adjust("400 millis") // the lookup at 700 sees it gone
      expect(yield* peers(discovery)).toEqual(podIds(3))
      const count = yield* lookups()
      yield* TestClock.adjust("10 seconds")
      expect(yield* lookups()).toBe(count)
    }).pipe(Effect.provide(environment)))

  it.effect("a flood of hints is coalesced: at most one lookup per spacing, bounded over the budget", () =>
    Effect.gen(function*() {
      const { discovery, lookups } = yield* startWith(3)
      const results: Array<Hint.Result> = []
      // 500 copies of one unconfirmed hint, 10 every 20 ms, over 1 s.
      for (let i = 0; i < 50; i++) {
        for (let j = 0; j < 10; j++) results.push(yield* discovery.hint(joined(7)))
        yield* TestClock.adjust("20 millis")
      }
      expect(results.filter((r) => r === "following")).toHaveLength(1)
      expect(results.filter((r) => r === "pending")).toHaveLength(499)
      // The backoff alone: 0, 100, 300, 700 within the first second.
      expect((yield* lookups()) - 1).toBe(4)
      // Distinct hints join the sequence under way: they do not reset its backoff (now at 1 s).
      const before = yield* lookups()
      for (let i = 0; i < 100; i++) {
        results.push(yield* discovery.hint(joined(100 + i)))
        yield* TestClock.adjust("10 millis")
      }
      expect((yield* lookups()) - before).toBeLessThanOrEqual(2)
      expect(results.filter((r) => r === "full").length).toBeGreaterThan(0)
      expect(yield* peers(discovery)).toEqual(podIds(3))
    }).pipe(Effect.provide(environment)))

  it.effect("never two lookups in flight: a hint during a slow tick lookup waits for it", () =>
    Effect.gen(function*() {
      const { discovery, dns } = yield* startWith(3)
      yield* dns.setLatency("2 seconds")
      yield* dns.setSrv(SRV_NAME, pods(4))
      const refreshing = yield* Effect.forkChild(discovery.refresh)
      yield* TestClock.adjust("100 millis")
      yield* discovery.hint(joined(5))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.await(refreshing)
      expect(yield* dns.maxInFlight).toBe(1)
    }).pipe(Effect.provide(environment)))

  it.effect("refreshes emits the set after every lookup, selfInDns changes included", () =>
    Effect.gen(function*() {
      const dns = yield* DnsResolver.DnsResolverTest
      // This pod (10.0.0.1) is not listed yet.
      yield* dns.setSrv(SRV_NAME, pods(3).slice(1))
      const discovery = yield* PeerDiscovery.make
      const listed = yield* discovery.refreshes.pipe(
        Stream.filter((set) => set.selfInDns),
        Stream.runHead,
        Effect.forkChild
      )
      yield* TestClock.adjust(0)
      yield* dns.setSrv(SRV_NAME, pods(3))
      yield* discovery.refresh
      const set = yield* Fiber.join(listed)
      expect(Option.map(set, (s) => s.peers)).toEqual(Option.some(podIds(3)))
    }).pipe(Effect.provide(environment)))
})
