/**
 * The leave's procedure (Leave.procedure) on TestClock, over the in-memory resolver and peers that only
 * record the hints sent to them: while DNS still lists the pod it looks itself up every 100 ms at most,
 * so that its `left` hints follow DNS dropping it within one such spacing (a doubling backoff once sent
 * them 750 ms late); the hints go before the pod resigns; a pod DNS keeps listing through the 2 s wait
 * sends nothing and keeps its shards. The process test (leave.process.test.ts) checks the same leave
 * between real processes by outcome only: on a loaded machine a process's milliseconds prove nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { DnsResolver, type Hint, PeerDiscovery, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { Clock, Duration, Effect, Fiber, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Leave from "../src/Leave.js"
import { PeerMessaging } from "../src/PeerMessaging.js"

const SRV_NAME = PeerId.srvName(PeerDiscoveryConfig.testSettings)
const DOMAIN = PeerId.serviceDomain(PeerDiscoveryConfig.testSettings)

/** SRV records of pods 10.0.0.1 … 10.0.0.n; this pod is 10.0.0.1 in the test settings. */
const pods = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: `${PeerId.fromIp(`10.0.0.${i + 1}`)}.${DOMAIN}`,
    port: 7700,
    priority: 0,
    weight: 25,
    addresses: [`10.0.0.${i + 1}`]
  }))

/** A round of hints as the peers saw it: its kind, when it was sent, and whether the pod had resigned then. */
interface Round {
  readonly kind: Hint.Kind
  readonly atMs: number
  readonly resigned: boolean
}

/** Discovery of pod 10.0.0.1 of four listed pods, and peers that record each round of hints. */
const start = Effect.gen(function*() {
  const dns = yield* DnsResolver.DnsResolverTest
  yield* dns.setSrv(SRV_NAME, pods(4))
  const discovery = yield* PeerDiscovery.make
  yield* TestClock.adjust(0)
  const rounds = yield* Ref.make<ReadonlyArray<Round>>([])
  const messaging = PeerMessaging.of({
    ownership: () => Effect.die(new Error("the leave asks no peer for its ownership")),
    ping: () => Effect.die(new Error("the leave pings no peer")),
    pingVia: () => Effect.die(new Error("the leave asks no peer for a probe")),
    hintAll: (kind, set) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (atMs) => Ref.update(rounds, (sent) => [...sent, { kind, atMs, resigned: set.leaving }])
      )
  })
  const procedure = Leave.procedure.pipe(
    Effect.provideService(PeerDiscovery.PeerDiscovery, discovery),
    Effect.provideService(PeerMessaging, messaging)
  )
  return { discovery, dns, procedure, rounds }
})

/** The resolver and settings; the interval long, so that only the leave's own lookups happen. */
const environment = Layer.merge(
  DnsResolver.layerTest,
  PeerDiscoveryConfig.layerTest({ refreshInterval: Duration.minutes(10) })
)

describe("Leave.procedure", () => {
  it.effect("sends its left hints within 100 ms of DNS dropping the pod, then resigns", () =>
    Effect.gen(function*() {
      const { discovery, dns, procedure, rounds } = yield* start
      const startedMs = yield* Clock.currentTimeMillis
      const leaving = yield* Effect.forkChild(procedure)
      // DNS drops the pod 800 ms into the leave, while it looks itself up.
      yield* TestClock.adjust(Duration.millis(800))
      expect(yield* Ref.get(rounds)).toEqual([])
      yield* dns.setSrv(SRV_NAME, pods(4).slice(1))
      yield* TestClock.adjust(Duration.millis(100))
      const [round, ...more] = yield* Ref.get(rounds)
      expect(more).toEqual([])
      expect(round).toMatchObject({ kind: "left", resigned: false })
      expect(round!.atMs - startedMs).toBeGreaterThan(800)
      expect(round!.atMs - startedMs).toBeLessThanOrEqual(900)
      expect(yield* Fiber.join(leaving)).toEqual({ result: "left", selfInDns: false })
      expect((yield* discovery.current).leaving).toBe(true)
    }).pipe(Effect.provide(environment)))

  it.effect("sends nothing and keeps its shards when DNS still lists the pod after its 2 s wait", () =>
    Effect.gen(function*() {
      const { discovery, dns, procedure, rounds } = yield* start
      const lookupsBefore = yield* dns.lookups(SRV_NAME)
      const leaving = yield* Effect.forkChild(procedure)
      yield* TestClock.adjust(Duration.seconds(2))
      expect(yield* Fiber.join(leaving)).toEqual({ result: "listed", selfInDns: true })
      expect(yield* Ref.get(rounds)).toEqual([])
      expect((yield* discovery.current).leaving).toBe(false)
      // Every 100 ms at most after the first two: about 20 lookups in the wait, not one per millisecond.
      const lookups = (yield* dns.lookups(SRV_NAME)) - lookupsBefore
      expect(lookups).toBeGreaterThanOrEqual(19)
      expect(lookups).toBeLessThanOrEqual(22)
    }).pipe(Effect.provide(environment)))
})
