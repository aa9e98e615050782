/**
 * The failure detector's verdicts as state: its table (healthTable.ts) in a Ref, updated one change at a
 * time, and the verdicts it gives published in a SubscriptionRef whenever they change, with their metrics
 * and logs. failureDetector.ts's probes feed it.
 */
import { Clock, Duration, Effect, Metric, Ref, Semaphore, type Stream, SubscriptionRef } from "effect"
import * as Metrics from "../Metrics.js"
import type * as PeerDiscovery from "../PeerDiscovery.js"
import type { PeerId } from "../PeerId.js"
import type { PeerSet } from "../PeerSet.js"
import * as HealthTable from "./healthTable.js"
import type { Verdicts as Health } from "./healthTable.js"

/** The other peers of `set`. */
export const othersOf = (set: PeerSet): ReadonlyArray<PeerId> => set.peers.filter((id) => id !== set.self)

/** The verdicts of one pod over the view of `discovery`, fencing itself after `selfFenceAfter` (PeerHealthConfig). */
export const make = (options: {
  readonly discovery: PeerDiscovery.Service
  readonly selfFenceAfter: Duration.Duration
}) =>
  Effect.gen(function*() {
    const { discovery } = options
    const fenceMs = Duration.toMillis(options.selfFenceAfter)
    const table = yield* Ref.make(HealthTable.empty)
    const health = yield* SubscriptionRef.make<Health>(HealthTable.noVerdicts)
    // Table updates and what they publish, one at a time, so that no verdict is published out of order.
    const oneUpdateAtATime = yield* Semaphore.make(1)
    const record = (peer: PeerId, transition: HealthTable.Transition) =>
      transition === "none" ? Effect.void : Metric.update(Metrics.suspicionsWith(transition), 1).pipe(
        Effect.andThen(
          (transition === "down" ? Effect.logWarning : Effect.logInfo)(`peer ${transition}`).pipe(
            Effect.annotateLogs({ peer })
          )
        )
      )

    /**
     * Applies `change` to the table at the current time, forgets the peers DNS no longer lists, and
     * publishes the verdicts when they changed.
     */
    const update = <A>(change: (table: HealthTable.Table, at: number) => readonly [A, HealthTable.Table]) =>
      oneUpdateAtATime.withPermits(1)(Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const set = yield* discovery.current
        const before = yield* Ref.get(table)
        const [result, changed] = change(before, at)
        const next = HealthTable.keepListed(changed, set.peers)
        yield* Ref.set(table, next)
        const verdicts: Health = {
          suspected: HealthTable.inStatus(next, "suspected"),
          down: HealthTable.inStatus(next, "down"),
          fenced: HealthTable.fenced(next, at, fenceMs, othersOf(set).length)
        }
        if (!HealthTable.sameVerdicts(yield* SubscriptionRef.get(health), verdicts)) {
          yield* SubscriptionRef.set(health, verdicts)
          yield* Metric.update(Metrics.suspectedPeers, verdicts.suspected.length)
          yield* Metric.update(Metrics.downPeers, verdicts.down.length)
          yield* Metric.update(Metrics.selfFenced, verdicts.fenced ? 1 : 0)
        }
        yield* Metric.update(Metrics.localHealth, next.localHealth)
        if (next.localHealth !== before.localHealth) {
          // Rare, and it changes what this pod does: its probes wait longer, and it probes less often.
          yield* Effect.logInfo(
            next.localHealth > before.localHealth
              ? "this pod was slow: its probes' timeouts and interval stretch"
              : "this pod answers in time again: its probes' timeouts and interval shrink"
          ).pipe(Effect.annotateLogs({ localHealth: next.localHealth, stretch: 1 + next.localHealth }))
        }
        return result
      }))

    /** The other peers DNS lists that are neither suspected nor held down: those probed in rounds and asked to help. */
    const aliveOthers = Effect.gen(function*() {
      const set = yield* discovery.current
      const entries = (yield* Ref.get(table)).entries
      return othersOf(set).filter((id) => !entries.has(id))
    })

    /** `peer` answered: alive, and this pod reached someone. */
    const answered = (peer: PeerId) =>
      Effect.flatMap(
        update((t) => {
          const [transition, next] = HealthTable.answered(t, peer)
          return [transition, HealthTable.reached(next)] as const
        }),
        (transition) => record(peer, transition)
      )

    /**
     * A probe of `peer` sent at `sentAt` failed, confirmed: suspected (silent since `silentSince`), or held
     * down once its silence has lasted `suspicionMs` (stretched by the local health).
     */
    const failed = (peer: PeerId, suspicionMs: number, sentAt: number, silentSince = sentAt) =>
      Effect.flatMap(
        update((t) => HealthTable.failed(t, peer, sentAt, HealthTable.stretched(t, suspicionMs), silentSince)),
        (transition) => Effect.as(record(peer, transition), transition)
      )

    return {
      /** The table now: for the probes' timeouts (stretched by the local health). */
      table: Ref.get(table),
      current: SubscriptionRef.get(health),
      changes: SubscriptionRef.changes(health) as Stream.Stream<Health>,
      update,
      aliveOthers,
      answered,
      failed
    }
  })
