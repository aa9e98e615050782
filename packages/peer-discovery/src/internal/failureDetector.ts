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
 * - **a new suspicion** is told to every other peer by asking each to probe the suspect, saying how long
 *   it has been silent: each gets its own evidence at once, rather than at its turn in its own round, a few
 *   seconds later, and counts the silence from the first unanswered probe, so that every pod holds a dead
 *   peer down at about the same moment;
 * - **the suspects** are pinged again when their silence has lasted the suspicion timeout, and every half
 *   interval; the peers held down every interval: one answer and they are alive, a failure past the
 *   suspicion timeout and a suspect is held down.
 */
import { Clock, Deferred, Duration, Effect, Metric, Random, Ref, Result, type Scope, type Stream } from "effect"
import * as Metrics from "../Metrics.js"
import type * as PeerDiscovery from "../PeerDiscovery.js"
import type { Settings } from "../PeerHealthConfig.js"
import type { PeerId } from "../PeerId.js"
import type * as PeerProbe from "../PeerProbe.js"
import * as HealthTable from "./healthTable.js"
import type { Verdicts as Health } from "./healthTable.js"
import * as Departures from "./departures.js"
import { logDefect } from "./logDefect.js"
import * as SingleFlight from "./singleFlight.js"
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

/** What one ping found, and when it was sent (ms): a failure's evidence dates from its sending. */
interface Pinged {
  readonly found: Metrics.ProbeResult
  readonly sentAt: number
}

/** What the service gets from the detector. */
export interface FailureDetector {
  readonly current: Effect.Effect<Health>
  readonly changes: Stream.Stream<Health>
  readonly departures: Stream.Stream<PeerId>
  readonly probeFor: (peer: PeerId, silentFor?: Duration.Duration) => Effect.Effect<boolean, Refusal>
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
    /**
     * A probe of `peer` sent at `sentAt` failed, confirmed: suspected (silent since `silentSince`), then
     * pinged again as soon as that silence has lasted the suspicion timeout; or held down.
     */
    const failed = (peer: PeerId, sentAt: number, silentSince = sentAt) =>
      Effect.tap(
        verdicts.failed(peer, suspicionMs, sentAt, silentSince),
        (transition) => transition === "suspected" ? Effect.forkIn(pingWhenDue(peer), scope) : Effect.void
      )
    const departures = yield* Departures.make(discovery)
    /** Peers being probed with their indirect probes now: a silent helper is not probed twice at once. */
    const inRound = yield* SingleFlight.make<PeerId>()
    /** Silent helpers being probed at once now: at most {@link Settings.indirectProbes}, whatever the peer count. */
    const helpersProbed = yield* Ref.make(0)
    /** Whether more peers are being pinged to confirm what an answer said of this pod: one such batch at a time. */
    const confirming = yield* Ref.make(false)
    /** Probes made for other pods, by peer: one in flight per peer, however many ask. */
    const probesFor = yield* SingleFlight.make<PeerId>()

    /**
     * Pings `peer` once: `ok`, `failed`, or `late` when this pod, not the peer, was slow. An answer's news
     * (whether the peer holds this pod down) is recorded; when it disagrees with what the other answers
     * said, and `confirm` holds, a few more peers are pinged at once.
     */
    const ping = (peer: PeerId, confirm = true): Effect.Effect<Pinged> =>
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
          yield* departures.probeFailed(peer)
          yield* discovery.hint({ kind: "left", peer })
        }
        return { found, sentAt: started }
      })

    /**
     * Pings suspected `peer` once its silence has lasted the suspicion timeout (stretched by the local
     * health), rather than at the suspects loop's next turn: a failure then holds it down.
     */
    const pingWhenDue = (peer: PeerId): Effect.Effect<void> =>
      Effect.gen(function*() {
        const t = yield* table
        const entry = t.entries.get(peer)
        if (entry?.status !== "suspected") return
        const wait = HealthTable.dueAt(entry, HealthTable.stretched(t, suspicionMs)) - (yield* Clock.currentTimeMillis)
        yield* Effect.sleep(Duration.millis(Math.max(0, wait)))
        if ((yield* table).entries.get(peer)?.status !== "suspected") return
        const { found, sentAt } = yield* ping(peer)
        if (found === "failed") yield* failed(peer, sentAt)
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
      silentSince: number,
      concurrency: number | "unbounded",
      onSilent: (helper: PeerId) => Effect.Effect<void> = probeSilentHelper
    ) =>
      Effect.gen(function*() {
        const timeout = Duration.millis(2 * HealthTable.stretched(yield* table, timeoutMs))
        const silentFor = Duration.millis(Math.max(0, (yield* Clock.currentTimeMillis) - silentSince))
        yield* Metric.update(Metrics.probesSentOf("indirect"), helpers.length)
        const decided = yield* Deferred.make<"ack" | "nack" | "silence">()
        const ask = (helper: PeerId) =>
          Effect.flatMap(Effect.result(probe.pingVia(helper, target, timeout, silentFor)), (answer) => {
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

    /**
     * Tells every other alive peer of a new suspicion of `suspect`, silent since `silentSince`, by asking each
     * to probe it; an ack refutes it.
     */
    const tell = (suspect: PeerId, silentSince: number) =>
      Effect.gen(function*() {
        const others = (yield* aliveOthers).filter((id) => id !== suspect)
        if ((yield* askHelpers(others, suspect, silentSince, TELL_CONCURRENCY)) === "ack") yield* answered(suspect)
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
     * One probe of the round, of `target`, with the indirect probes its failure calls for; the one under way
     * when `target` is being probed so already. `cascade`: whether its silent helpers are probed at once.
     */
    const probeRound = (target: PeerId, cascade = true): Effect.Effect<void> =>
      inRound(target, probeOnce(target, cascade))

    const probeOnce = (target: PeerId, cascade: boolean): Effect.Effect<void> =>
      Effect.gen(function*() {
        const { found, sentAt } = yield* ping(target)
        if (found !== "failed") return
        const candidates = (yield* aliveOthers).filter((id) => id !== target)
        const helpers = (yield* Random.shuffle(candidates)).slice(0, settings.indirectProbes)
        // With nobody to ask, the failed probe is all the evidence there is.
        const heard = helpers.length === 0
          ? "nack"
          : yield* askHelpers(helpers, target, sentAt, "unbounded", cascade ? probeSilentHelper : () => Effect.void)
        switch (heard) {
          case "ack":
            return yield* answered(target)
          case "nack": {
            if (helpers.length > 0) yield* update((t) => [undefined, HealthTable.reached(t)] as const)
            if ((yield* failed(target, sentAt)) === "suspected") yield* tell(target, sentAt)
            return
          }
          case "silence":
            return yield* update((t, at) => [undefined, HealthTable.unreached(t, at)] as const)
        }
      })

    /**
     * The probe of a peer DNS dropped before its turn (probeSchedule.departedTarget). Without it the turn
     * would be lost: the pods that still list the peer give it to this pod in this slot, so nobody would
     * probe it before the next one, and this pod, which saw the departure first, would tell nobody. Seen:
     * crashes agreed a slot late when a pod's lookup caught the crash just before its turn.
     */
    const lastTurn = (peer: PeerId) =>
      Effect.flatMap(
        // What an answer would record of an unlisted peer, the table forgets in the same update (keepListed).
        ping(peer, false),
        ({ found }) => (found === "failed" ? departures.lastTurnFailed(peer) : Effect.void)
      )

    /**
     * The round loop: one peer per slot of the probe interval, the one probeSchedule.ts gives (a peer
     * suspected or held down is the suspects loop's), then a wait to the start of the next slot, or of a
     * later one when this pod is slow (the local health stretches its interval). A peer DNS dropped since
     * the previous slot gets its last turn beside it.
     */
    const rounds = Effect.gen(function*() {
      const intervalMs = Duration.toMillis(interval)
      let previous: ReadonlyArray<PeerId> = []
      for (;;) {
        const slot = Math.floor((yield* Clock.currentTimeMillis) / intervalMs)
        const set = yield* discovery.current
        const departed = ProbeSchedule.departedTarget(previous, set.peers, set.self, slot)
        previous = set.peers
        if (departed !== undefined) yield* Effect.forkIn(lastTurn(departed), scope)
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
            Effect.flatMap(
              ping(peer),
              ({ found, sentAt }) => (found === "failed" ? Effect.asVoid(failed(peer, sentAt)) : Effect.void)
            ),
          { concurrency: "unbounded", discard: true }
        )
      }
    }).pipe(logDefect("the failure detector's probes of suspects died; suspicions no longer end"))

    const probeFor = (peer: PeerId, silentFor: Duration.Duration = Duration.zero): Effect.Effect<boolean, Refusal> =>
      Effect.gen(function*() {
        const set = yield* discovery.current
        if (peer === set.self) return yield* Effect.fail("self" as const)
        if (!set.peers.includes(peer)) return yield* Effect.fail("not-a-peer" as const)
        return yield* probesFor(
          peer,
          ping(peer).pipe(
            // The asker's silence counts as this pod's, up to the suspicion timeout: a pod paused for less
            // than that still answers the probe that could hold it down, sent after its silence lasted so long.
            Effect.tap(({ found, sentAt }) =>
              found === "failed"
                ? failed(peer, sentAt, sentAt - Math.min(Duration.toMillis(silentFor), suspicionMs))
                : Effect.void
            ),
            Effect.map(({ found }) => found === "ok")
          )
        )
      }).pipe(Effect.uninterruptible)

    yield* Effect.forkScoped(rounds)
    yield* Effect.forkScoped(suspects)

    return {
      current: verdicts.current,
      changes: verdicts.changes,
      departures: departures.stream,
      probeFor,
      pingedBy: (peer) =>
        Effect.flatMap(discovery.current, (set) =>
          peer !== set.self && set.peers.includes(peer)
            ? update((t, at) => [undefined, HealthTable.pinged(t, at)] as const)
            : Effect.void)
    }
  })
