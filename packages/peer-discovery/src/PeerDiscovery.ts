/**
 * Peer discovery: looks the peers up in DNS while the layer is built, then again every refresh
 * interval (±20% jitter) in a fiber of the layer's scope, and keeps the current {@link PeerSet}.
 *
 * What DNS says is handled as the systems before us learned to (DESIGN.md §3): a failed lookup
 * (timeout, SERVFAIL, refused) is retried with backoff and never shrinks the set, which is kept and
 * marked stale; NXDOMAIN and no data are answers — no ready pods — and leave only this pod; this pod
 * is always in its own set, whether DNS lists it yet or not.
 *
 * An answer that would remove more than half of the peers, or leave this pod alone after it had peers
 * (a "large shrink", {@link isLargeShrink}), is applied only when the next lookup, made
 * {@link confirmationDelay} later, agrees (it also leaves out every peer the first one left out):
 * answers flapping between the whole set and part of it move no membership and no ownership.
 *
 * Refresh hints ({@link Hint}) from peers make it look up sooner: a second fiber follows them with a
 * short backoff until DNS agrees with what they expect or their budget ends, through the same lookup
 * (never two in flight) and the same handling of answers; the ticks go on as before.
 *
 * This module wires the parts, each in `internal/`: the lookup (`peerListing`), the answer policy
 * (`answerPolicy`, pure), the refresher that runs one lookup at a time and carries the policy's decision
 * out (`refresher`, logging through `lookupLog`), the tick loop (`tickLoop`), the hint follower
 * (`hintFollower`), the early lookups of a starting pod (`untilListed`) and the leave (`leave`).
 */
import { Context, Data, Deferred, Duration, Effect, Filter, Layer, Option, Stream, SubscriptionRef } from "effect"
import type { DnsLookupError } from "./DnsLookupError.js"
import { DnsResolver } from "./DnsResolver.js"
import type * as Hint from "./Hint.js"
import * as HintFollower from "./internal/hintFollower.js"
import { leave } from "./internal/leave.js"
import { annotateDiscoveryLogs } from "./internal/logAnnotations.js"
import { listPeers } from "./internal/peerListing.js"
import * as Refresher from "./internal/refresher.js"
import * as TickLoop from "./internal/tickLoop.js"
import { untilListed } from "./internal/untilListed.js"
import { PeerDiscoveryConfig } from "./PeerDiscoveryConfig.js"
import * as PeerId from "./PeerId.js"
import * as PeerSet from "./PeerSet.js"

// Parts of the public API whose home is the part of discovery they belong to.
export { CONFIRMATION_DELAY_MAX, confirmationDelay, isLargeShrink } from "./internal/answerPolicy.js"
export { LARGE_ANSWER_WARNING } from "./internal/lookupLog.js"
export { RETRY_BASE_DELAY, retrySchedule, tickLength } from "./internal/tickLoop.js"

/** What the service offers its consumers. */
export interface Service {
  /** The current set of peers. */
  readonly current: Effect.Effect<PeerSet.PeerSet>
  /** The current set, then the set after every change of membership (not after every refresh). */
  readonly membership: Stream.Stream<PeerSet.PeerSet>
  /** Every change of membership from the moment of subscription, with the ids that joined and left. */
  readonly changes: Stream.Stream<PeerSet.MembershipChange>
  /** Waits until the set has at least `count` peers (this pod included), at most `timeout`. */
  readonly awaitPeers: (
    count: number,
    timeout: Duration.Input
  ) => Effect.Effect<PeerSet.PeerSet, PeerWaitTimeout>
  /**
   * Looks the peers up now, once (after a lookup in flight, if any), and returns the new set; on a
   * failure the set is kept, marked stale, and the error returned. An answer that is a large shrink
   * ({@link isLargeShrink}) is held and the set returned unchanged; the next lookup, whoever makes it,
   * confirms or drops it.
   */
  readonly refresh: Effect.Effect<PeerSet.PeerSet, DnsLookupError>
  /**
   * The set after every lookup that answered (every change of `stale` or `selfInDns` included) and after
   * {@link Service.leave}, from the current one.
   */
  readonly refreshes: Stream.Stream<PeerSet.PeerSet>
  /**
   * Takes a refresh hint from a peer: unless the set already agrees with it, lookups follow (coalesced
   * with every other hint, at most one per {@link Hint.HINT_MIN_SPACING}) until DNS agrees or the
   * hint's budget ({@link Hint.budget}) ends. Never changes the set by itself.
   */
  readonly hint: (hint: Hint.Hint) => Effect.Effect<Hint.Result>
  /**
   * Says this pod is leaving: its peers were told (refresh hints `left`) and look DNS up now. The set is
   * published again with {@link PeerSet.PeerSet.leaving}, and from then on, whenever DNS does not list this
   * pod while it lists others, this pod owns nothing ({@link PeerSet.ownershipPeers}): its shards pass to
   * the peers at their lookups instead of at its exit. Lookups go on as before. Idempotent; waits for a
   * lookup in flight, so that its answer cannot overwrite the flag.
   */
  readonly leave: Effect.Effect<void>
}

/** Peer discovery as a service. */
export class PeerDiscovery extends Context.Service<PeerDiscovery, Service>()("@miroir/peer-discovery/PeerDiscovery") {}

/** {@link Service.awaitPeers} timed out before enough peers were seen. */
export class PeerWaitTimeout extends Data.TaggedError("PeerWaitTimeout")<{
  readonly wanted: number
  readonly seen: number
  readonly timeout: Duration.Duration
}> {
  override get message(): string {
    return `waited ${Duration.format(this.timeout)} for ${this.wanted} peers, saw ${this.seen}`
  }
}

/** The change of membership from `previous` to `current`, as {@link Service.changes} publishes it. */
const membershipChange = (previous: PeerSet.PeerSet, current: PeerSet.PeerSet): PeerSet.MembershipChange => ({
  previous,
  current,
  ...PeerSet.difference(previous, current)
})

/**
 * Builds the service: makes the first lookup, then starts the refresh loop, the hint follower and the
 * early lookups of a starting pod in fibers of the current scope.
 */
export const make = Effect.gen(function*() {
  const settings = yield* PeerDiscoveryConfig
  const resolver = yield* DnsResolver
  const identity = PeerId.identify(settings)
  const peers = listPeers(settings, resolver)
  const state = yield* SubscriptionRef.make(PeerSet.initial(identity))
  const current = SubscriptionRef.get(state)
  const refresher = yield* Refresher.make({ settings, identity, state, peers })
  const hints = yield* HintFollower.make({
    interval: settings.refreshInterval,
    name: peers.name,
    current,
    refresh: refresher.refresh
  })
  const annotated = annotateDiscoveryLogs(identity)

  // The layer is built once the first lookup is over, whatever it found.
  const firstLookup = yield* Deferred.make<void>()
  yield* TickLoop.run({
    settings,
    name: peers.name,
    refresh: refresher.refresh,
    onFirstLookup: Deferred.complete(firstLookup, Effect.void)
  }).pipe(annotated, Effect.forkScoped)
  yield* Deferred.await(firstLookup)
  yield* hints.follow.pipe(annotated, Effect.forkScoped)
  const refresh = Effect.map(refresher.refresh, (outcome) => outcome.set)
  yield* untilListed(current, refresh).pipe(annotated, Effect.forkScoped)

  const membership = SubscriptionRef.changes(state).pipe(Stream.changesWith(PeerSet.sameMembers))

  const changes = membership.pipe(
    Stream.zipWithPrevious,
    Stream.filterMap(
      Filter.fromPredicateOption(([previous, next]: [Option.Option<PeerSet.PeerSet>, PeerSet.PeerSet]) =>
        Option.map(previous, (before) => membershipChange(before, next))
      )
    )
  )

  const awaitPeers = (count: number, timeout: Duration.Input) =>
    membership.pipe(
      Stream.filter((set) => set.peers.length >= count),
      Stream.runHead,
      Effect.timeoutOption(timeout),
      Effect.map(Option.flatten),
      Effect.flatMap(Option.match({
        onSome: Effect.succeed,
        onNone: () =>
          Effect.flatMap(current, (set) =>
            Effect.fail(
              new PeerWaitTimeout({ wanted: count, seen: set.peers.length, timeout: Duration.fromInputUnsafe(timeout) })
            ))
      }))
    )

  return {
    current,
    membership,
    changes,
    awaitPeers,
    refresh,
    refreshes: SubscriptionRef.changes(state),
    hint: hints.hint,
    leave: leave(state, refresher.exclusive).pipe(annotated)
  } satisfies Service
})

/** Peer discovery over the configured resolver; its refresh fiber stops when the layer's scope closes. */
export const layer: Layer.Layer<PeerDiscovery, never, PeerDiscoveryConfig | DnsResolver> = Layer.effect(
  PeerDiscovery,
  make
)
