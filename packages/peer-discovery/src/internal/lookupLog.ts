/**
 * The log lines of the lookups: what an operator reads about the answers, failures and decisions of
 * discovery. Each is an effect to run where the event happens; none changes anything.
 */
import { Duration, Effect } from "effect"
import type { DnsLookupError } from "../DnsLookupError.js"
import type * as Metrics from "../Metrics.js"
import * as PeerSet from "../PeerSet.js"
import type { HeldShrink } from "./answerPolicy.js"
import { boundedList } from "./boundedList.js"

/**
 * Past about 900 SRV records an answer no longer fits in one DNS message (measured with unbound, see
 * BENCHMARKS.md): the server then sends no records, or only those that fit. Discovery warns when the set
 * grows to this size, while there is still time to split the pods over several Services.
 */
export const LARGE_ANSWER_WARNING = 800

/** Whether a lookup's result is an answer from DNS (records, NXDOMAIN or no data) rather than a failure to get one. */
export const isAnswered = (result: Metrics.LookupResult): boolean =>
  result === "ok" || result === "nxdomain" || result === "nodata"

/**
 * A failed lookup, at warning level when its outcome differs from the previous lookup's: the same failure
 * again, at every retry, is only debug.
 */
export const failure = (
  error: DnsLookupError,
  previousResult: Metrics.LookupResult | undefined,
  kept: PeerSet.PeerSet,
  name: string
) => {
  const message = error.outcome === "truncated"
    ? "the peers' DNS answer is truncated (only part of the records arrived); keeping the last known peers"
    : "peer lookup failed; keeping the last known peers"
  const log = previousResult === error.outcome ? Effect.logDebug(message) : Effect.logWarning(message)
  return log.pipe(
    Effect.annotateLogs({
      outcome: error.outcome,
      name,
      code: error.code ?? "",
      ...(error.received === undefined ? {} : { received: error.received }),
      kept: kept.peers.length
    })
  )
}

/** DNS answers again after lookups that failed. */
export const answersAgain = (after: Metrics.LookupResult, name: string) =>
  Effect.logInfo("peer lookups answer again").pipe(Effect.annotateLogs({ after, name }))

/** NXDOMAIN or no data: DNS says there is no ready pod. */
export const noReadyPods = (error: DnsLookupError, name: string) =>
  Effect.logDebug("DNS lists no ready pods").pipe(Effect.annotateLogs({ outcome: error.outcome, name }))

/** A held large shrink the next lookup did not confirm, and why. */
export const shrinkUnconfirmed = (held: HeldShrink, because: string, name: string) =>
  Effect.logWarning("the next lookup did not confirm a large shrink of the peers; it was not applied").pipe(
    Effect.annotateLogs({ peers: held.peers, answered: held.answered, removed: held.removed.size, because, name })
  )

/** A large shrink held until the next lookup, made after `confirmIn`. */
export const shrinkHeld = (shrink: HeldShrink, confirmIn: Duration.Duration, name: string) =>
  Effect.logInfo("an answer would shrink the peers by more than half; waiting for the next lookup to confirm it")
    .pipe(
      Effect.annotateLogs({
        peers: shrink.peers,
        answered: shrink.answered,
        removed: shrink.removed.size,
        confirmIn: Duration.format(confirmIn),
        name
      })
    )

/** A large shrink a second lookup confirmed, from `previous` peers to `answered`. */
export const shrinkConfirmed = (previous: number, answered: number, name: string) =>
  Effect.logInfo("a second lookup confirmed a large shrink of the peers; applying it").pipe(
    Effect.annotateLogs({ peers: previous, answered, name })
  )

/** SRV targets outside the Service's `domain`, ignored. */
export const foreignTargets = (targets: ReadonlyArray<string>, domain: string) =>
  Effect.logWarning("ignored SRV targets outside the Service's domain").pipe(
    Effect.annotateLogs({ targets: boundedList(targets), count: targets.length, domain })
  )

/** The answer has grown to {@link LARGE_ANSWER_WARNING} records: the pods should be split. */
export const largeAnswer = (records: number, name: string) =>
  Effect.logWarning(
    "the peers' DNS answer nears the largest one DNS message can carry (about 900 SRV records); split the pods over several Services"
  ).pipe(Effect.annotateLogs({ records, name }))

/** The membership changed from `previous` to `current`: who joined and who left, bounded. */
export const membershipChanged = (previous: PeerSet.PeerSet, current: PeerSet.PeerSet) => {
  const { joined, left } = PeerSet.difference(previous, current)
  return Effect.logInfo("peer membership changed").pipe(
    Effect.annotateLogs({
      joined: boundedList(joined),
      left: boundedList(left),
      joinedCount: joined.length,
      leftCount: left.length,
      peers: current.peers.length,
      self: current.self,
      selfInDns: current.selfInDns
    })
  )
}
