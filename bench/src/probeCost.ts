/**
 * What failure detection costs a pod, in requests, at 3, 50 and 300 peers: N failure detectors
 * (`PeerHealth.layer`, the pods' own code, with the chart's defaults) in one process on TestClock, each over a
 * fixed view of the N pods, talking through an in-memory transport that counts every ping and every indirect
 * probe, sent and received, per pod. Two phases of 60 s of virtual time each: all alive (the steady cost), then
 * one pod dead (the cost while a peer is suspected and held down, the suspects' pings included). Virtual time
 * makes the counts the protocol's own, whatever the machine; what one request costs in CPU is the
 * pod-under-load benchmark's to say.
 */
import { PeerDiscovery, PeerHealth, PeerHealthConfig, type PeerId, PeerProbe } from "@miroir/peer-discovery"
import type { PeerSet } from "@miroir/peer-discovery"
import { Context, Duration, Effect, Layer, Option, References, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { Add } from "./rolloutFigures.js"
import type { Figure } from "./stats.js"

/** The pod counts measured. */
export const SIZES = [3, 50, 300] as const

/** Virtual seconds of each phase. */
const PHASE_SECONDS = 60

/** The requests one pod sent and received per second in one phase, as quantiles over the pods. */
export interface PhaseCost {
  readonly sentPerSecond: { readonly mean: number; readonly max: number }
  readonly receivedPerSecond: { readonly mean: number; readonly max: number }
  /** Of the sent, the indirect probes (asking a peer to ping another), per pod and second. */
  readonly indirectPerSecond: number
}

/** The cost at one pod count. */
export interface ProbeCost {
  readonly pods: number
  readonly allAlive: PhaseCost
  readonly oneDead: PhaseCost
  /** Whether every living pod held the dead one down by the end of the second phase. */
  readonly deadHeldDown: boolean
}

const idOf = (i: number) => `10-0-${i >> 8}-${(i & 255) + 1}` as PeerId.PeerId

/** A discovery that lists `ids` forever, for pod `self`: the detector reads `current` and sends hints. */
const fixedDiscovery = (self: PeerId.PeerId, ids: ReadonlyArray<PeerId.PeerId>): PeerDiscovery.Service => {
  const set: PeerSet.PeerSet = {
    self,
    peers: ids,
    selfInDns: true,
    everListed: true,
    leaving: false,
    addresses: new Map(),
    refreshedAt: Option.none(),
    stale: false
  }
  return {
    current: Effect.succeed(set),
    membership: Stream.make(set),
    changes: Stream.empty,
    awaitPeers: () => Effect.succeed(set),
    refresh: Effect.succeed(set),
    refreshes: Stream.make(set),
    hint: () => Effect.succeed("agreed"),
    leave: Effect.void
  }
}

/** Measures `pods` detectors over two phases. */
export const measure = (pods: number): Effect.Effect<ProbeCost> =>
  Effect.scoped(Effect.gen(function*() {
    const ids = Array.from({ length: pods }, (_, i) => idOf(i)).sort()
    const index = new Map(ids.map((id, i) => [id, i]))
    const sent = new Float64Array(pods)
    const received = new Float64Array(pods)
    let indirect = 0
    const dead = new Set<PeerId.PeerId>()
    const detectors: Array<PeerHealth.Service> = []

    /** The transport of pod `from`. */
    const transport = (from: number): PeerProbe.Service => ({
      ping: (peer, timeout) =>
        Effect.suspend(() => {
          sent[from]! += 1
          if (dead.has(peer)) {
            return Effect.andThen(
              Effect.sleep(timeout),
              Effect.fail(new PeerProbe.ProbeFailed({ peer, reason: "no answer" }))
            )
          }
          received[index.get(peer)!]! += 1
          return Effect.succeed(PeerProbe.answered)
        }),
      pingVia: (helper, target, timeout) =>
        Effect.suspend(() => {
          sent[from]! += 1
          indirect += 1
          if (dead.has(helper)) {
            return Effect.andThen(
              Effect.sleep(timeout),
              Effect.fail(new PeerProbe.ProbeFailed({ peer: helper, reason: "no answer" }))
            )
          }
          received[index.get(helper)!]! += 1
          // The helper's own ping, which its transport counts.
          return Effect.orElseSucceed(detectors[index.get(helper)!]!.probeFor(target), () => false)
        })
    })

    for (let i = 0; i < pods; i++) {
      const context = yield* Layer.build(
        PeerHealth.layer.pipe(
          Layer.provide(Layer.succeed(PeerDiscovery.PeerDiscovery, fixedDiscovery(ids[i]!, ids))),
          Layer.provide(Layer.succeed(PeerProbe.PeerProbe, transport(i))),
          Layer.provide(PeerHealthConfig.layer(PeerHealthConfig.defaults))
        )
      )
      detectors.push(Context.get(context, PeerHealth.PeerHealth))
    }

    const phase = Effect.gen(function*() {
      sent.fill(0)
      received.fill(0)
      indirect = 0
      for (let t = 0; t < PHASE_SECONDS * 10; t++) yield* TestClock.adjust(Duration.millis(100))
      const living = ids.flatMap((id, i) => (dead.has(id) ? [] : [i]))
      const perSecond = (counts: Float64Array) => living.map((i) => counts[i]! / PHASE_SECONDS)
      const summary = (values: ReadonlyArray<number>) => ({
        mean: values.reduce((a, b) => a + b, 0) / values.length,
        max: Math.max(...values)
      })
      return {
        sentPerSecond: summary(perSecond(sent)),
        receivedPerSecond: summary(perSecond(received)),
        indirectPerSecond: indirect / living.length / PHASE_SECONDS
      } satisfies PhaseCost
    })

    yield* TestClock.adjust(0)
    const allAlive = yield* phase
    dead.add(ids[ids.length - 1]!)
    const oneDead = yield* phase
    const verdicts = yield* Effect.forEach(detectors.slice(0, -1), (detector) => detector.current)
    return {
      pods,
      allAlive,
      oneDead,
      deadHeldDown: verdicts.every((health) => health.down.includes(ids[ids.length - 1]!))
    }
  })).pipe(
    Effect.provide(TestClock.layer()),
    // Hundreds of pods each log the dead one held down: the counts are the figures.
    Effect.provideService(References.MinimumLogLevel, "Error")
  )

/** Measures every size of {@link SIZES} (or only the first two, quick). */
export const run = (quick: boolean): Effect.Effect<ReadonlyArray<ProbeCost>> =>
  Effect.forEach(quick ? SIZES.slice(0, 2) : SIZES, measure)

/** Requests a pod may send per second while all are alive: one ping a second, and a margin for nothing else. */
const STEADY_TARGET = 2

const single = (value: number, unit: string): Figure => ({
  value: Number(value.toPrecision(3)),
  min: Number(value.toPrecision(3)),
  max: Number(value.toPrecision(3)),
  trials: 1,
  unit
})

/** Writes the costs into `results.healing.probeCost` and the rows. */
export const recordProbeCost = (costs: ReadonlyArray<ProbeCost>, results: Record<string, any>, add: Add) => {
  results.healing ??= {}
  results.healing.probeCost = { phaseSeconds: 60, measuredAt: new Date().toISOString() }
  for (const cost of costs) {
    results.healing.probeCost[`n${cost.pods}`] = cost
    const key = `healing.probeCost.n${cost.pods}`
    add(`${key}.allAlive.sentPerSecond`, single(cost.allAlive.sentPerSecond.max, "req/s per pod (max)"), {
      text: `≤ ${STEADY_TARGET}`,
      met: cost.allAlive.sentPerSecond.max <= STEADY_TARGET
    })
    add(`${key}.allAlive.receivedPerSecond`, single(cost.allAlive.receivedPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.sentPerSecond`, single(cost.oneDead.sentPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.receivedPerSecond`, single(cost.oneDead.receivedPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.indirectPerSecond`, single(cost.oneDead.indirectPerSecond, "req/s per pod (mean)"))
  }
}
