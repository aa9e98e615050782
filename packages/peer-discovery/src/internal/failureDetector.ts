/**
 * The failure detector's probes (PeerHealth.ts says what it decides; healthTable.ts holds the rules):
 *
 * - **the round**: every probe interval (stretched by the local health), one peer, the one the rotation
 *   of probeSchedule.ts gives for the slot (each listed pod probed by exactly one other per slot), is
 *   pinged; when it does not answer, DNS is asked at once (a crashed pod leaves DNS within seconds) and
 *   {@link Settings.indirectProbes} other peers are asked to ping it: the first answer decides — an ack
 *   and it is alive, a nack and it is suspected (a later ack clears it) — and silence from all means this
 *   pod is the one cut off; a helper that did not answer is probed at once (a dead node's other pods), a
 *   few at a time and without probing its own silent helpers in turn;
 * - **the answers' news**: each answer says which peers the answering pod holds down; when one disagrees
 *   with what the others said of this pod (held down or not), a few more peers are pinged at once, and
 *   this pod fences itself while most of those that answered hold it down (healthTable.ts);
 * - **a new suspicion** is told to every other peer by asking each to probe the suspect: each gets its own
 *   evidence at once, rather than at its turn in its own round, a few seconds later;
 * - **the suspects** are pinged again every half interval, the peers held down every interval: one answer
 *   and they are alive, failures past the suspicion timeout and a suspect is held down.
 */
import { Clock, Deferred, Duration, Effect, Metric, PubSub, Random, Ref, Result, type Scope, Stream } from "effect"
import * as Metrics from "../Metrics.js"
import type * as PeerDiscovery from "../PeerDiscovery.js"
import type { Settings } from "../PeerHealthConfig.js"
import type { PeerId } from "../PeerId.js"
import type * as PeerProbe from "../PeerProbe.js"
import * as HealthTable from "./healthTable.js"
import type { Verdicts as Health } from "./healthTable.js"
import { logDefect } from "./logDefect.js"
import * as ProbeSchedule from "./probeSchedule.js"
import * as VerdictState from "./verdictState.js"
import { othersOf } from "./verdictState.js"

/**
 * A probe that failed after waiting more than this many times its timeout (plus {@link LATE_SLACK}) was
 * late: this pod's timers fired late, its event loop or its cgroup stalled, and the peer is not to blame.
 */
const LATE_FACTOR = 2

/** What is added to the late bound, so that a loaded machine's usual timer delays are not taken for a stall. */
const LATE_SLACK = Duration.millis(250)

/** Peers asked at once to probe a new suspect: a round of telling stays a few batches at hundreds of peers. */
const TELL_CONCURRENCY = 16

/** Why a probe for another pod was refused: the peer is this pod, or one DNS does not list. */
export type Refusal = "self" | "not-a-peer"

/** How long after its failed probe a peer's departure from DNS counts as seen first-hand (a hint's longest budget). */
const DEPARTURE_WINDOW_MS = 10_000

/** Departures kept for subscribers that are slow to read them; past it the oldest are dropped. */
const DEPARTURES_KEPT = 64

/** What the service gets from the detector. */
export interface FailureDetector {
  readonly current: Effect.Effect<Health>
  readonly changes: Stream.Stream<Health>
  readonly departures: Stream.Stream<PeerId>
  readonly probeFor: (peer: PeerId) => Effect.Effect<boolean, Refusal>
  readonly pingedBy: (peer: PeerId) => Effect.Effect<void>
}

/**
 * Starts the detector over `discovery`, probing through `probe` every `interval`: its loops run in fibers
 * of the current scope.
 */
export const make = (options: {
  readonly settings: Settings
  readonly interval: Duration.Duration
  readonly discovery: PeerDiscovery.Service
  readonly probe: PeerProbe.Service
}): Effect.Effect<FailureDetector, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { discovery, interval, probe, settings } = options
    const scope = yield* Effect.scope
    const timeoutMs = Duration.toMillis(settings.probeTimeout)
    const suspicionMs = Duration.toMillis(settings.suspicionTimeout)
    const fenceMs = Duration.toMillis(settings.selfFenceAfter)
    const verdicts = yield* VerdictState.make({ discovery, selfFenceAfter: settings.selfFenceAfter })
    const { aliveOthers, answered, table, update } = verdicts
    /** A failed probe of `peer`, confirmed: suspected, or held down once its suspicion has lasted. */
    const failed = (peer: PeerId) => verdicts.failed(peer, suspicionMs)
    /** When this pod's direct probe of a peer last failed, by peer: its departure from DNS is then seen first-hand. */
    const failedAt = yield* Ref.make<ReadonlyMap<PeerId, number>>(new Map())
    const departures = yield* PubSub.sliding<PeerId>(DEPARTURES_KEPT)
    /** Peers being probed with their indirect probes now, so that a silent helper is not probed twice at once. */
    const inRound = yield* Ref.make<ReadonlySet<PeerId>>(new Set())
    /** Silent helpers being probed at once now: at most {@link Settings.indirectProbes}, whatever the peer count. */
    const helpersProbed = yield* Ref.make(0)
    /** Whether more peers are being pinged to confirm what an answer said of this pod: one such batch at a time. */
    const confirming = yield* Ref.make(false)
    /** Probes made for other pods, by peer: one in flight per peer, however many ask. */
    const probesFor = yield* Ref.make<ReadonlyMap<PeerId, Deferred.Deferred<boolean>>>(new Map())

    /**
     * Pings `peer` once: `ok`, `failed`, or `late` when this pod, not the peer, was slow. An answer's news
     * (whether the peer holds this pod down) is recorded; when it disagrees with what the other answers
     * said, and `confirm` holds, a few more peers are pinged at once.
     */
    const ping = (peer: PeerId, confirm = true): Effect.Effect<Metrics.ProbeResult> =>
      Effect.gen(function*() {
        const timeout = HealthTable.stretched(yield* table, timeoutMs)
        const started = yield* Clock.currentTimeMillis
        yield* Metric.update(Metrics.probesSentOf("direct"), 1)
        const result = yield* Effect.result(probe.ping(peer, Duration.millis(timeout)))
        const waited = (yield* Clock.currentTimeMillis) - started
        const found: Metrics.ProbeResult = Result.isSuccess(result)
          ? "ok"
          : waited > timeout * LATE_FACTOR + Duration.toMillis(LATE_SLACK)
          ? "late"
          : "failed"
        yield* Metric.update(Metrics.probeResultsOf(found), 1)
        if (found === "late") yield* update((t) => [undefined, HealthTable.slow(t)] as const)
        if (Result.isSuccess(result)) {
          yield* answered(peer)
          const set = yield* discovery.current
          const holdsDown = result.success.down.includes(set.self)
          const disagrees = yield* update((t, at) => {
            const next = HealthTable.reported(t, peer, holdsDown, at)
            return [HealthTable.heldDownByPeers(next, at, fenceMs, othersOf(set).length) !== holdsDown, next] as const
          })
          if (confirm && disagrees) yield* confirmNews(peer)
        }
        // A crashed pod leaves DNS within seconds: look up now and until DNS drops it (or the hint's budget ends).
        if (found === "failed") {
          const at = yield* Clock.currentTimeMillis
          yield* Ref.update(failedAt, (all) => new Map(all).set(peer, at))
          yield* discovery.hint({ kind: "left", peer })
        }
        return found
      })

    /**
     * Pings {@link Settings.indirectProbes} other alive peers at once, in the background, when `reporter`'s
     * answer disagreed with the others about this pod: their answers settle whether most hold it down.
     */
    const confirmNews = (reporter: PeerId) =>
      Effect.gen(function*() {
        if (yield* Ref.getAndSet(confirming, true)) return
        const others = (yield* aliveOthers).filter((id) => id !== reporter)
        const asked = (yield* Random.shuffle(others)).slice(0, settings.indirectProbes)
        yield* Effect.forEach(asked, (peer) => ping(peer, false), { concurrency: "unbounded", discard: true }).pipe(
          Effect.ensuring(Ref.set(confirming, false)),
          Effect.forkIn(scope)
        )
      })

    /**
     * Asks `helpers` to ping `target`, and decides at the first answer: `ack` (one reached it), `nack` (one
     * answered that it could not), or `silence` once none answered at all. Answers after the decision still
     * count: a later ack clears the suspicion a nack started (a suspicion is only the start of the evidence;
     * shards move only once it lasted), and a helper that did not answer is probed next in the round.
     */
    const askHelpers = (
      helpers: ReadonlyArray<PeerId>,
      target: PeerId,
      concurrency: number | "unbounded",
      onSilent: (helper: PeerId) => Effect.Effect<void> = probeSilentHelper
    ) =>
      Effect.gen(function*() {
        const timeout = Duration.millis(2 * HealthTable.stretched(yield* table, timeoutMs))
        yield* Metric.update(Metrics.probesSentOf("indirect"), helpers.length)
        const decided = yield* Deferred.make<"ack" | "nack" | "silence">()
        const ask = (helper: PeerId) =>
          Effect.flatMap(Effect.result(probe.pingVia(helper, target, timeout)), (answer) => {
            if (Result.isFailure(answer)) return onSilent(helper)
            return Effect.flatMap(
              Deferred.succeed(decided, answer.success ? "ack" : "nack"),
              // An ack after a nack decided: the target is alive after all.
              (first) => (!first && answer.success ? answered(target) : Effect.void)
            )
          })
        yield* Effect.forEach(helpers, ask, { concurrency, discard: true }).pipe(
          Effect.andThen(Deferred.succeed(decided, "silence")),
          Effect.forkIn(scope)
        )
        return yield* Deferred.await(decided)
      })

    /** Tells every other alive peer of a new suspicion of `suspect`, by asking each to probe it; an ack refutes it. */
    const tell = (suspect: PeerId) =>
      Effect.gen(function*() {
        const others = (yield* aliveOthers).filter((id) => id !== suspect)
        if ((yield* askHelpers(others, suspect, TELL_CONCURRENCY)) === "ack") yield* answered(suspect)
      }).pipe(Effect.forkIn(scope), Effect.asVoid)

    /**
     * A helper that did not answer an indirect probe may be dead too (another pod of a dead node): probed at
     * once, in the background, unless it is being probed already. Bounded: at most
     * {@link Settings.indirectProbes} such probes at a time, and the helpers of their indirect probes that are
     * silent in turn wait for their own turn in the round (at hundreds of unreachable peers, probing each
     * silent helper's silent helpers would be a storm of probes that nothing ends).
     */
    const probeSilentHelper = (helper: PeerId): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (!(yield* aliveOthers).includes(helper)) return
        const room = yield* Ref.modify(
          helpersProbed,
          (n) => n < settings.indirectProbes ? [true, n + 1] as const : [false, n] as const
        )
        if (!room) return
        yield* probeRound(helper, false).pipe(
          Effect.ensuring(Ref.update(helpersProbed, (n) => n - 1)),
          Effect.forkIn(scope)
        )
      })

    /**
     * One probe of the round, of `target`, with the indirect probes its failure calls for; none when
     * `target` is being probed so already. `cascade`: whether its silent helpers are probed at once.
     */
    const probeRound = (target: PeerId, cascade = true): Effect.Effect<void> =>
      Effect.gen(function*() {
        const mine = yield* Ref.modify(
          inRound,
          (all) => all.has(target) ? [false, all] as const : [true, new Set(all).add(target)] as const
        )
        if (!mine) return
        yield* probeOnce(target, cascade).pipe(Effect.ensuring(Ref.update(inRound, (all) => {
          const next = new Set(all)
          next.delete(target)
          return next
        })))
      })

    const probeOnce = (target: PeerId, cascade: boolean): Effect.Effect<void> =>
      Effect.gen(function*() {
        if ((yield* ping(target)) !== "failed") return
        const candidates = (yield* aliveOthers).filter((id) => id !== target)
        const helpers = (yield* Random.shuffle(candidates)).slice(0, settings.indirectProbes)
        // With nobody to ask, the failed probe is all the evidence there is.
        const heard = helpers.length === 0
          ? "nack"
          : yield* askHelpers(helpers, target, "unbounded", cascade ? probeSilentHelper : () => Effect.void)
        switch (heard) {
          case "ack":
            return yield* answered(target)
          case "nack": {
            if (helpers.length > 0) yield* update((t) => [undefined, HealthTable.reached(t)] as const)
            if ((yield* failed(target)) === "suspected") yield* tell(target)
            return
          }
          case "silence":
            return yield* update((t, at) => [undefined, HealthTable.unreached(t, at)] as const)
        }
      })

    /**
     * The round loop: one peer per slot of the probe interval, the one probeSchedule.ts gives (a peer
     * suspected or held down is the suspects loop's), then a wait to the start of the next slot, or of a
     * later one when this pod is slow (the local health stretches its interval).
     */
    const rounds = Effect.gen(function*() {
      const intervalMs = Duration.toMillis(interval)
      for (;;) {
        const slot = Math.floor((yield* Clock.currentTimeMillis) / intervalMs)
        const set = yield* discovery.current
        const target = ProbeSchedule.targetOf(set.peers, set.self, slot)
        if (target !== undefined && (yield* aliveOthers).includes(target)) yield* probeRound(target)
        else yield* update((t) => [undefined, t] as const) // the fence's clock goes on with nobody to probe
        const slots = HealthTable.stretched(yield* table, 1)
        yield* Effect.sleep(
          Duration.millis(Math.max(0, (slot + slots) * intervalMs - (yield* Clock.currentTimeMillis)))
        )
      }
    }).pipe(logDefect("the failure detector's probes died; nobody is suspected from now on"))

    /**
     * The suspects' loop: every half interval, each suspected peer is pinged again (its suspicion ends at its
     * first answer); every other time, each peer held down too (it gets its shards back within an interval of
     * answering, and a dead node's pods cost each pod one ping per interval each).
     */
    const suspects = Effect.gen(function*() {
      for (let turn = 0;; turn++) {
        yield* Effect.sleep(Duration.times(interval, 0.5))
        const entries = (yield* table).entries
        const pending = [...entries].flatMap(([peer, entry]) =>
          entry.status === "suspected" || turn % 2 === 0 ? [peer] : []
        )
        yield* Effect.forEach(
          pending,
          (peer) =>
            Effect.flatMap(ping(peer), (found) => (found === "failed" ? Effect.asVoid(failed(peer)) : Effect.void)),
          { concurrency: "unbounded", discard: true }
        )
      }
    }).pipe(logDefect("the failure detector's probes of suspects died; suspicions no longer end"))

    const probeFor = (peer: PeerId): Effect.Effect<boolean, Refusal> =>
      Effect.gen(function*() {
        const set = yield* discovery.current
        if (peer === set.self) return yield* Effect.fail("self" as const)
        if (!set.peers.includes(peer)) return yield* Effect.fail("not-a-peer" as const)
        const mine = yield* Deferred.make<boolean>()
        const inFlight = yield* Ref.modify(probesFor, (all) => {
          const found = all.get(peer)
          return found === undefined ? [mine, new Map(all).set(peer, mine)] : [found, all]
        })
        if (inFlight !== mine) return yield* Deferred.await(inFlight)
        const reached = yield* ping(peer).pipe(
          Effect.tap((found) => (found === "failed" ? failed(peer) : Effect.void)),
          Effect.map((found) => found === "ok"),
          Effect.ensuring(Ref.update(probesFor, (all) => {
            const next = new Map(all)
            next.delete(peer)
            return next
          }))
        )
        yield* Deferred.succeed(mine, reached)
        return reached
      }).pipe(Effect.uninterruptible)

    /**
     * Publishes the peers that DNS dropped after this pod's probe of them failed (a crash, seen first-hand:
     * the pod service tells its peers, so that each looks DNS up now rather than at its own probe of it).
     */
    const watchDepartures = discovery.changes.pipe(
      Stream.runForEach((change) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const seen = yield* Ref.modify(failedAt, (all) => {
            const kept = new Map([...all].filter(([, at]) => now - at <= DEPARTURE_WINDOW_MS))
            const departed = change.left.filter((id) => kept.has(id))
            for (const id of departed) kept.delete(id)
            return [departed, kept] as const
          })
          yield* PubSub.publishAll(departures, seen)
        })
      ),
      logDefect("the failure detector's watch of departures died; crashes are no longer told to peers")
    )

    yield* Effect.forkScoped(rounds)
    yield* Effect.forkScoped(suspects)
    yield* Effect.forkScoped(watchDepartures)

    return {
      current: verdicts.current,
      changes: verdicts.changes,
      departures: Stream.fromPubSub(departures),
      probeFor,
      pingedBy: (peer) =>
        Effect.flatMap(discovery.current, (set) =>
          peer !== set.self && set.peers.includes(peer)
            ? update((t, at) => [undefined, HealthTable.pinged(t, at)] as const)
            : Effect.void)
    }
  })
