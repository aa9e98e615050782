/**
 * One lookup at a time, and what follows it: the lookup's metrics, the answer policy's decision
 * (answerPolicy.ts) carried out on the set, and the log lines. The tick loop, the hint follower, the
 * early lookups of a starting pod and the service's `refresh` all look up through it, so that two lookups
 * never run at once and every answer is handled the same way.
 */
import { Clock, Effect, Metric, Option, Ref, Result, Semaphore, SubscriptionRef } from "effect"
import type { DnsLookupError } from "../DnsLookupError.js"
import * as Metrics from "../Metrics.js"
import type { Settings } from "../PeerDiscoveryConfig.js"
import * as PeerId from "../PeerId.js"
import * as PeerSet from "../PeerSet.js"
import * as AnswerPolicy from "./answerPolicy.js"
import { annotateDiscoveryLogs } from "./logAnnotations.js"
import * as LookupLog from "./lookupLog.js"
import type { Listing, PeerLookup } from "./peerListing.js"

/** The result of one lookup: the set after it, and whether its answer was held as a large shrink. */
export interface LookupOutcome {
  readonly set: PeerSet.PeerSet
  readonly held: boolean
}

/** Lookups, one at a time. */
export interface Refresher {
  /** One lookup and its effect on the set; on a failure the set is kept, marked stale, and the error returned. */
  readonly refresh: Effect.Effect<LookupOutcome, DnsLookupError>
  /** Runs `effect` with no lookup in flight: it waits for the one in flight, and the next waits for it. */
  readonly exclusive: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** The refresher of the set `state`, for the pod `identity`, looking up through `peers`. */
export const make = (options: {
  readonly settings: Settings
  readonly identity: PeerId.SelfIdentity
  readonly state: SubscriptionRef.SubscriptionRef<PeerSet.PeerSet>
  readonly peers: PeerLookup
}): Effect.Effect<Refresher> =>
  Effect.gen(function*() {
    const { identity, peers: { lookup, name }, settings, state } = options
    const oneLookupAtATime = yield* Semaphore.make(1)
    const heldShrink = yield* Ref.make(Option.none<AnswerPolicy.HeldShrink>())
    /** The result of the previous lookup, so that failures are logged once per change, not at every retry. */
    const lastResult = yield* Ref.make<Metrics.LookupResult | undefined>(undefined)
    const confirmIn = AnswerPolicy.confirmationDelay(settings.refreshInterval)

    /** Ends a held shrink that this lookup did not confirm: counted and logged. */
    const dropUnconfirmed = (unconfirmed: Option.Option<AnswerPolicy.HeldShrink>, because: string) =>
      Option.match(unconfirmed, {
        onNone: () => Effect.void,
        onSome: (held) =>
          Metric.update(Metrics.largeShrinksWithResult("unconfirmed"), 1).pipe(
            Effect.andThen(LookupLog.shrinkUnconfirmed(held, because, name))
          )
      })

    /** Publishes `current`, the set an answer gave after `previous`, with its metrics and log lines. */
    const apply = (previous: PeerSet.PeerSet, current: PeerSet.PeerSet, listing: Listing, at: Date) =>
      Effect.gen(function*() {
        yield* SubscriptionRef.set(state, current)
        yield* Metric.update(Metrics.peerPodCount, current.peers.length)
        yield* Metric.update(Metrics.selfInDns, current.selfInDns ? 1 : 0)
        yield* Metric.update(Metrics.lastSuccessTimestamp, at.getTime() / 1000)
        if (listing.foreign.length > 0) {
          yield* Metric.update(Metrics.foreignTargets, listing.foreign.length)
          yield* LookupLog.foreignTargets(listing.foreign, PeerId.serviceDomain(settings))
        }
        if (
          listing.ids.length >= LookupLog.LARGE_ANSWER_WARNING && previous.peers.length < LookupLog.LARGE_ANSWER_WARNING
        ) {
          yield* LookupLog.largeAnswer(listing.ids.length, name)
        }
        if (!PeerSet.sameMembers(previous, current)) {
          yield* Metric.update(Metrics.membershipChanges, 1)
          yield* LookupLog.membershipChanged(previous, current)
        }
        return { set: current, held: false }
      })

    /** Carries out the answer policy's decision on one lookup's result, got at `at`. */
    const settle = (
      result: Result.Result<Listing, DnsLookupError>,
      previousResult: Metrics.LookupResult | undefined,
      at: Date
    ): Effect.Effect<LookupOutcome, DnsLookupError> =>
      Effect.gen(function*() {
        if (Result.isFailure(result) && result.failure.isAnswer) yield* LookupLog.noReadyPods(result.failure, name)
        // NXDOMAIN and no data listed no pod: nothing for the metrics and logs of the records.
        const listing = Result.getOrElse(
          result,
          (): Listing => ({ ids: [], addresses: new Map(), foreign: [], portZero: 0 })
        )
        if (listing.portZero > 0) yield* Metric.update(Metrics.ignoredRecordsWithReason("port_zero"), listing.portZero)
        const previous = yield* SubscriptionRef.get(state)
        const held = yield* Ref.get(heldShrink)
        const decision = AnswerPolicy.decide({ identity, previous, held, result, at })
        yield* Ref.set(heldShrink, AnswerPolicy.heldAfter(decision))
        switch (decision._tag) {
          case "MarkStale": {
            yield* dropUnconfirmed(decision.unconfirmed, `the next lookup failed: ${decision.error.outcome}`)
            yield* SubscriptionRef.set(state, decision.set)
            yield* LookupLog.failure(decision.error, previousResult, decision.set, name)
            return yield* Effect.fail(decision.error)
          }
          case "Hold": {
            yield* dropUnconfirmed(decision.unconfirmed, "its answer lists peers the first one left out")
            yield* LookupLog.shrinkHeld(decision.shrink, confirmIn, name)
            return { set: previous, held: true }
          }
          case "Confirm": {
            yield* Metric.update(Metrics.largeShrinksWithResult("confirmed"), 1)
            yield* LookupLog.shrinkConfirmed(previous.peers.length, decision.set.peers.length, name)
            return yield* apply(previous, decision.set, listing, at)
          }
          case "Apply": {
            yield* dropUnconfirmed(decision.unconfirmed, "its answer lists peers the first one left out")
            return yield* apply(previous, decision.set, listing, at)
          }
        }
      })

    const refresh: Effect.Effect<LookupOutcome, DnsLookupError> = Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const result = yield* Effect.result(lookup)
      const finished = yield* Clock.currentTimeMillis
      const outcome: Metrics.LookupResult = Result.match(result, { onFailure: (e) => e.outcome, onSuccess: () => "ok" })
      yield* Metric.update(Metrics.lookupDuration, (finished - started) / 1000)
      yield* Metric.update(Metrics.lookupsWithResult(outcome), 1)
      yield* Effect.annotateCurrentSpan("dns.outcome", outcome)
      const previousResult = yield* Ref.getAndSet(lastResult, outcome)
      if (LookupLog.isAnswered(outcome) && previousResult !== undefined && !LookupLog.isAnswered(previousResult)) {
        yield* LookupLog.answersAgain(previousResult, name)
      }
      const settled = yield* settle(result, previousResult, new Date(finished))
      yield* Effect.annotateCurrentSpan("peers.count", settled.set.peers.length)
      return settled
    }).pipe(
      Effect.withSpan("PeerDiscovery.refresh", { attributes: { "dns.name": name } }),
      annotateDiscoveryLogs(identity),
      oneLookupAtATime.withPermits(1)
    )

    return { refresh, exclusive: oneLookupAtATime.withPermits(1) }
  })
