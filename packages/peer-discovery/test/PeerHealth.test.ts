/**
 * The failure detector (PeerHealth.layer) on TestClock, over in-memory peers: a dead peer is suspected, held
 * down and its shards move, and it gets them back when it answers; a peer only this pod cannot reach is never
 * suspected; a pod that reaches nobody suspects nobody and fences itself; a 2 s pause is never taken for a
 * death; a failed probe looks DNS up at once, and a departure seen so is published.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Fiber, Layer, Metric, Option, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Metrics from "../src/Metrics.js"
import * as PeerDiscovery from "../src/PeerDiscovery.js"
import * as PeerHealth from "../src/PeerHealth.js"
import * as PeerHealthConfig from "../src/PeerHealthConfig.js"
import type { PeerId } from "../src/PeerId.js"
import * as PeerProbe from "../src/PeerProbe.js"
import * as Rendezvous from "../src/Rendezvous.js"
import { environment, podIds, pods, SRV_NAME, startWith } from "./support/fixtures.js"

/** This pod, as the test settings name it. */
const SELF = "10-0-0-1"

/** Long, so that only the lookups the detector asks for happen. */
const INTERVAL = Duration.seconds(60)

/** How often the tests look at the verdicts. */
const STEP = Duration.millis(100)

/**
 * In-memory peers: `paused` ones answer nobody until they resume (a ping waits for them within its timeout,
 * as a frozen process answers its queued requests when it thaws); `cut` holds the paths (`from>to`) that lose
 * every packet; `holdingSelfDown` the peers whose answers say they hold this pod down. A helper pings the
 * target as this pod would, with half the time it was given.
 */
const inMemoryPeers = Effect.gen(function*() {
  const paused = yield* Ref.make(new Set<string>())
  const cut = yield* Ref.make(new Set<string>())
  const holdingSelfDown = yield* Ref.make(new Set<string>())
  const reaches = (from: string, to: string) =>
    Effect.map(
      Effect.all([Ref.get(paused), Ref.get(cut)]),
      ([pausedNow, cutNow]) => !pausedNow.has(to) && !cutNow.has(`${from}>${to}`)
    )
  /** Waits up to `timeout` for `from` to reach `to`. */
  const waitFor = (from: string, to: string, timeout: Duration.Duration) =>
    Effect.gen(function*() {
      const steps = Math.max(1, Math.floor(Duration.toMillis(timeout) / 50))
      for (let i = 0; i < steps; i++) {
        if (yield* reaches(from, to)) return true
        yield* Effect.sleep(Duration.millis(50))
      }
      return false
    })
  const probe = PeerProbe.PeerProbe.of({
    ping: (peer, timeout) =>
      Effect.flatMap(
        waitFor(SELF, peer, timeout),
        (ok) =>
          ok
            ? Effect.map(Ref.get(holdingSelfDown), (holding): PeerProbe.Answer => ({
              down: holding.has(peer) ? [SELF as PeerId] : []
            }))
            : Effect.fail(new PeerProbe.ProbeFailed({ peer, reason: "no answer" }))
      ),
    pingVia: (helper, target, timeout) =>
      Effect.gen(function*() {
        if (!(yield* reaches(SELF, helper)) || !(yield* reaches(helper, SELF))) {
          yield* Effect.sleep(timeout)
          return yield* new PeerProbe.ProbeFailed({ peer: helper, reason: "no answer" })
        }
        return yield* waitFor(helper, target, Duration.times(timeout, 0.5))
      })
  })
  return { paused, cut, holdingSelfDown, probe }
})

/** Discovery over `count` pods (this one among them), the detector with `settings` and ownership over both. */
const setup = (count: number, settings: PeerHealthConfig.Settings = PeerHealthConfig.defaults) =>
  Effect.gen(function*() {
    const { discovery, dns } = yield* startWith(pods(count))
    const peers = yield* inMemoryPeers
    const context = yield* Layer.build(
      Layer.provideMerge(
        Rendezvous.layer,
        PeerHealth.layer.pipe(
          Layer.provide(Layer.succeed(PeerProbe.PeerProbe, peers.probe)),
          Layer.provide(PeerHealthConfig.layer(settings))
        )
      ).pipe(Layer.provide(Layer.succeed(PeerDiscovery.PeerDiscovery, discovery)))
    )
    const health = Context.get(context, PeerHealth.PeerHealth)
    const rendezvous = Context.get(context, Rendezvous.Rendezvous)
    yield* TestClock.adjust(0)
    return { discovery, dns, health, rendezvous, ...peers }
  })

/** Advances the clock by `total` in steps, collecting the verdicts seen after each. */
const watch = (health: PeerHealth.Service, total: Duration.Duration) =>
  Effect.gen(function*() {
    const seen: Array<PeerHealth.Health> = []
    for (let t = 0; t < Duration.toMillis(total); t += Duration.toMillis(STEP)) {
      yield* TestClock.adjust(STEP)
      seen.push(yield* health.current)
    }
    return seen
  })

const counter = (result: Metrics.SuspicionResult) =>
  Effect.map(Metric.value(Metrics.suspicionsWith(result)), (state) => state.count)

const pause = (paused: Ref.Ref<Set<string>>, ...ids: ReadonlyArray<string>) =>
  Ref.update(paused, (set) => new Set([...set, ...ids]))
const resume = (paused: Ref.Ref<Set<string>>, ...ids: ReadonlyArray<string>) =>
  Ref.update(paused, (set) => new Set([...set].filter((id) => !ids.includes(id))))

describe("PeerHealth", () => {
  it.effect("holds a dead peer down, moves its shards to the others, and gives them back when it answers", () =>
    Effect.gen(function*() {
      const { health, paused, rendezvous } = yield* setup(4)
      const before = yield* rendezvous.ownedShards(64)
      const downBefore = yield* counter("down")
      yield* pause(paused, "10-0-0-3")
      // A shuffled round covers the three others in 3 s, so it is probed within 5 s (last of one round, then
      // of the next: 2(N-1)-1 periods at worst); then 0.5 s of timeout, 1 s of indirect probes and the 2 s of
      // suspicion (probed again every 0.5 s): held down within 9 s with the defaults.
      const seen = yield* watch(health, Duration.seconds(9))
      expect(seen.some((h) => h.suspected.includes("10-0-0-3" as PeerId))).toBe(true)
      expect((yield* health.current).down).toEqual(["10-0-0-3"])
      expect((yield* counter("down")) - downBefore).toBe(1)
      const view = yield* rendezvous.view
      expect(view.peers).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-4"])
      for (let shard = 0; shard < 64; shard++) expect(yield* rendezvous.ownerOf(String(shard))).not.toBe("10-0-0-3")
      const during = yield* rendezvous.ownedShards(64)
      expect(during.length).toBeGreaterThan(before.length)
      for (const shard of before) expect(during).toContain(shard)
      // It answers again: back at the next ping of the peers held down (every interval).
      yield* resume(paused, "10-0-0-3")
      yield* watch(health, Duration.seconds(2))
      expect(yield* health.current).toEqual(PeerHealth.healthy)
      expect(yield* rendezvous.ownedShards(64)).toEqual(before)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("never suspects a peer that only this pod cannot reach: the others vouch for it", () =>
    Effect.gen(function*() {
      const { cut, health } = yield* setup(4)
      yield* Ref.set(cut, new Set([`${SELF}>10-0-0-3`]))
      const seen = yield* watch(health, Duration.seconds(12))
      expect(seen.every((h) => h.suspected.length === 0 && h.down.length === 0 && !h.fenced)).toBe(true)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("a pod whose probes reach nobody suspects nobody, fences itself, and owns again once it reaches them", () =>
    Effect.gen(function*() {
      const { cut, health, rendezvous } = yield* setup(4)
      const before = yield* rendezvous.ownedShards(64)
      const ids = podIds(4).slice(1)
      yield* Ref.set(cut, new Set(ids.flatMap((id) => [`${SELF}>${id}`, `${id}>${SELF}`])))
      const seen = yield* watch(health, Duration.seconds(10))
      expect(seen.every((h) => h.down.length === 0)).toBe(true)
      expect((yield* health.current).fenced).toBe(true)
      expect(yield* rendezvous.ownedShards(64)).toEqual([])
      // The others are still counted: the fenced pod's shards are theirs in its view too.
      expect((yield* rendezvous.view).peers).toEqual(ids)
      yield* Ref.set(cut, new Set())
      yield* watch(health, Duration.seconds(2))
      expect((yield* health.current).fenced).toBe(false)
      expect(yield* rendezvous.ownedShards(64)).toEqual(before)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("a pod its peers cannot reach, but that reaches them, fences itself once they hold it down", () =>
    Effect.gen(function*() {
      const { health, holdingSelfDown, rendezvous } = yield* setup(4)
      const before = yield* rendezvous.ownedShards(64)
      yield* watch(health, Duration.seconds(3))
      expect((yield* health.current).fenced).toBe(false)
      // The others held this pod down (they cannot reach it): the first answer that says so is checked
      // with more peers at once, so it fences within a probe interval.
      yield* Ref.set(holdingSelfDown, new Set(podIds(4).slice(1)))
      const seen = yield* watch(health, Duration.seconds(10))
      expect(seen.findIndex((h) => h.fenced)).toBeLessThan(12)
      expect(seen.slice(12).every((h) => h.fenced && h.down.length === 0)).toBe(true)
      expect(yield* rendezvous.ownedShards(64)).toEqual([])
      // They count it alive again: it owns its shards again within the self-fence time.
      yield* Ref.set(holdingSelfDown, new Set())
      yield* watch(health, Duration.seconds(4))
      expect((yield* health.current).fenced).toBe(false)
      expect(yield* rendezvous.ownedShards(64)).toEqual(before)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("one peer that holds this pod down, against the others, never fences it", () =>
    Effect.gen(function*() {
      const { health, holdingSelfDown } = yield* setup(4)
      yield* Ref.set(holdingSelfDown, new Set(["10-0-0-3"]))
      const seen = yield* watch(health, Duration.seconds(20))
      expect(seen.every((h) => !h.fenced)).toBe(true)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("a pod that reaches none of its peers, while they still ping it, never fences itself", () =>
    Effect.gen(function*() {
      const { cut, health } = yield* setup(4)
      const ids = podIds(4).slice(1)
      // It cannot reach them (nor they answer it), but they reach it: each pings it in turn.
      yield* Ref.set(cut, new Set(ids.map((id) => `${SELF}>${id}`)))
      const pinging = yield* Effect.forkChild(Effect.forever(
        Effect.forEach(ids, (id) => Effect.andThen(health.pingedBy(id as PeerId), Effect.sleep(Duration.seconds(1))))
      ))
      const seen = yield* watch(health, Duration.seconds(10))
      expect(seen.every((h) => !h.fenced && h.down.length === 0)).toBe(true)
      // Once they stop (the cut is both ways now), it fences itself.
      yield* Fiber.interrupt(pinging)
      yield* watch(health, Duration.seconds(5))
      expect((yield* health.current).fenced).toBe(true)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("pings from strangers or itself do not keep a cut-off pod from fencing", () =>
    Effect.gen(function*() {
      const { cut, health } = yield* setup(4)
      const ids = podIds(4).slice(1)
      yield* Ref.set(cut, new Set(ids.map((id) => `${SELF}>${id}`)))
      const pinging = yield* Effect.forkChild(Effect.forever(
        Effect.andThen(
          Effect.all([health.pingedBy("10-9-9-9" as PeerId), health.pingedBy(SELF as PeerId)]),
          Effect.sleep(Duration.millis(500))
        )
      ))
      yield* watch(health, Duration.seconds(8))
      expect((yield* health.current).fenced).toBe(true)
      yield* Fiber.interrupt(pinging)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("a pod cut off from 50 peers probes a bounded few per interval, not each silent helper's helpers", () =>
    Effect.gen(function*() {
      const { cut, health } = yield* setup(50)
      const ids = podIds(50).slice(1)
      yield* Ref.set(cut, new Set(ids.flatMap((id) => [`${SELF}>${id}`, `${id}>${SELF}`])))
      const sent = Effect.map(
        Effect.all([Metric.value(Metrics.probesSentOf("direct")), Metric.value(Metrics.probesSentOf("indirect"))]),
        ([direct, indirect]) => ({ direct: direct.count, indirect: indirect.count })
      )
      const before = yield* sent
      yield* watch(health, Duration.seconds(10))
      const after = yield* sent
      // Each interval: the round's probe, and at most indirectProbes (3) silent helpers probed at once, each
      // asking 3 helpers of its own, none of them probed in turn.
      const { indirectProbes } = PeerHealthConfig.defaults
      expect(after.direct - before.direct).toBeLessThanOrEqual(10 * (1 + indirectProbes))
      expect(after.indirect - before.indirect).toBeLessThanOrEqual(10 * (1 + indirectProbes) * indirectProbes)
      expect((yield* health.current).fenced).toBe(true)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("with one peer, takes over its shards when it dies, and never fences itself", () =>
    Effect.gen(function*() {
      const { health, paused, rendezvous } = yield* setup(2)
      yield* pause(paused, "10-0-0-2")
      const seen = yield* watch(health, Duration.seconds(6))
      expect((yield* health.current).down).toEqual(["10-0-0-2"])
      expect(seen.every((h) => !h.fenced)).toBe(true)
      expect((yield* rendezvous.ownedShards(64)).length).toBe(64)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("never holds down a peer paused for 2 s, wherever the pause falls in the rounds (20 trials)", () =>
    Effect.gen(function*() {
      const { health, paused } = yield* setup(4)
      const downBefore = yield* counter("down")
      for (let trial = 0; trial < 20; trial++) {
        // A different phase of the rounds each time.
        yield* TestClock.adjust(Duration.millis(1_000 + 137 * trial))
        yield* pause(paused, "10-0-0-3")
        const seen = yield* watch(health, Duration.seconds(2))
        yield* resume(paused, "10-0-0-3")
        seen.push(...(yield* watch(health, Duration.seconds(3))))
        expect(seen.every((h) => h.down.length === 0)).toBe(true)
      }
      expect((yield* counter("down")) - downBefore).toBe(0)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("looks DNS up as soon as a probe fails, so a crashed pod that DNS dropped is gone at once", () =>
    Effect.gen(function*() {
      const { discovery, dns, health, paused } = yield* setup(4)
      const lookupsBefore = yield* dns.lookups(SRV_NAME)
      const departures = yield* health.departures.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust(0)
      // It crashed: DNS dropped it, and it answers nothing; the ticks are a minute apart.
      yield* dns.setSrv(SRV_NAME, pods(4).filter((_, i) => i !== 2))
      yield* pause(paused, "10-0-0-3")
      // Probed within 5 s (see above), failed 0.5 s later.
      yield* watch(health, Duration.seconds(6))
      expect((yield* dns.lookups(SRV_NAME)) - lookupsBefore).toBeGreaterThan(0)
      expect((yield* discovery.current).peers).toEqual(["10-0-0-1", "10-0-0-2", "10-0-0-4"])
      // Seen first-hand: published for the pod service to tell its peers.
      expect(yield* Fiber.join(departures)).toEqual(["10-0-0-3"])
      // DNS alone says who exists: the verdicts forget it.
      expect(yield* health.current).toEqual(PeerHealth.healthy)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("probes a peer DNS dropped before its turn all the same, and publishes its departure when it is dead", () =>
    Effect.gen(function*() {
      // Three pods: this one probes 10-0-0-2 in even slots (whole seconds from 0) and 10-0-0-3 in odd ones.
      const { discovery, dns, health, paused } = yield* setup(3)
      const departures = yield* health.departures.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust(Duration.millis(200))
      // 10-0-0-3 crashes; this pod's own lookup (a tick's, say) sees it before its turn, at 1 s.
      yield* pause(paused, "10-0-0-3")
      yield* dns.setSrv(SRV_NAME, pods(3).filter((_, i) => i !== 2))
      yield* discovery.refresh
      expect((yield* discovery.current).peers).toEqual(["10-0-0-1", "10-0-0-2"])
      // The other pods still list it and count on this pod's probe of it in slot 1: it gets it, fails at
      // 1.5 s, and the departure is published for the pod service to tell them.
      yield* TestClock.adjust(Duration.millis(1_300))
      expect(departures.pollUnsafe(), "published by 1.5 s").toBeDefined()
      expect(yield* Fiber.join(departures)).toEqual(["10-0-0-3"])
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("gives a dropped peer that still answers no departure", () =>
    Effect.gen(function*() {
      const { discovery, dns, health } = yield* setup(3)
      const departures = yield* health.departures.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* TestClock.adjust(Duration.millis(200))
      // Unready, not dead: DNS drops it, it answers its last probe.
      yield* dns.setSrv(SRV_NAME, pods(3).filter((_, i) => i !== 2))
      yield* discovery.refresh
      yield* TestClock.adjust(Duration.seconds(5))
      expect(departures.pollUnsafe()).toBeUndefined()
      yield* Fiber.interrupt(departures)
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("counts the asker's silence, up to the suspicion timeout: told pods hold a dead peer down with the asker", () =>
    Effect.gen(function*() {
      // Rounds a minute apart: only the probes asked for here, and the pings they call for.
      const { health, paused } = yield* setup(5, { ...PeerHealthConfig.defaults, probeInterval: Option.some(INTERVAL) })
      const [told, untold, overstated] = ["10-0-0-3", "10-0-0-4", "10-0-0-5"] as Array<PeerId>
      yield* pause(paused, told!, untold!, overstated!)
      const asked = yield* Effect.forkChild(Effect.all([
        health.probeFor(told!, Duration.millis(1_500)),
        health.probeFor(untold!),
        health.probeFor(overstated!, Duration.hours(1))
      ], { concurrency: "unbounded" }))
      yield* TestClock.adjust(Duration.millis(600))
      expect(yield* Fiber.join(asked)).toEqual([false, false, false])
      // One failure each: suspected, whatever the asker said.
      expect(yield* health.current).toMatchObject({ suspected: [told, untold, overstated], down: [] })
      // Silent 1.5 s before this pod's ping, 2 s at its failure's sending + 0.5 s: pinged then, held down
      // when that ping fails; the hour counts as the suspicion timeout (2 s): pinged at once.
      yield* TestClock.adjust(Duration.millis(500))
      expect(yield* health.current).toMatchObject({ suspected: [untold], down: [told, overstated] })
      // Its own silence only: pinged 2 s after its first failed ping was sent, held down when it fails.
      yield* TestClock.adjust(Duration.millis(1_300))
      expect(yield* health.current).toMatchObject({ suspected: [untold], down: [told, overstated] })
      yield* TestClock.adjust(Duration.millis(200))
      expect(yield* health.current).toMatchObject({ suspected: [], down: [told, untold, overstated] })
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("probes only listed peers for others, and never itself", () =>
    Effect.gen(function*() {
      const { health } = yield* setup(3)
      expect(yield* health.probeFor("10-0-0-2" as PeerId)).toBe(true)
      const stranger = yield* Effect.flip(health.probeFor("10-9-9-9" as PeerId))
      expect(stranger.reason).toBe("not-a-peer")
      const self = yield* Effect.flip(health.probeFor(SELF as PeerId))
      expect(self.reason).toBe("self")
    }).pipe(Effect.provide(environment({ refreshInterval: INTERVAL }))))

  it.effect("layerNone never suspects and refuses to probe", () =>
    Effect.gen(function*() {
      const health = yield* PeerHealth.PeerHealth
      expect(yield* health.current).toEqual(PeerHealth.healthy)
      expect((yield* Effect.flip(health.probeFor("10-0-0-2" as PeerId))).reason).toBe("off")
    }).pipe(Effect.provide(PeerHealth.layerNone)))
})
