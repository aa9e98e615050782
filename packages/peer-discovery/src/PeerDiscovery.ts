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
 */
import {
  Cause,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Filter,
  Layer,
  Metric,
  Option,
  Queue,
  Random,
  Ref,
  Result,
  Schedule,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import { DnsLookupError } from "./DnsLookupError.js"
import { DnsResolver } from "./DnsResolver.js"
import * as Hint from "./Hint.js"
import { boundedList } from "./internal/boundedList.js"
import * as Metrics from "./Metrics.js"
import { PeerDiscoveryConfig, type Settings } from "./PeerDiscoveryConfig.js"
import * as PeerId from "./PeerId.js"
import * as PeerSet from "./PeerSet.js"

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

/** The first delay of the retries after a failed lookup. */
export const RETRY_BASE_DELAY = Duration.millis(250)

/**
 * Retries after a failed lookup: jittered exponential backoff from {@link RETRY_BASE_DELAY}, each
 * delay at most a quarter of the interval. The refresh loop bounds them by the end of the tick.
 */
export const retrySchedule = (interval: Duration.Duration): Schedule.Schedule<Duration.Duration> => {
  const cap = Duration.times(interval, 0.25)
  return Schedule.exponential(RETRY_BASE_DELAY).pipe(
    Schedule.jittered,
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, cap)))
  )
}

/** The length of one tick of the refresh loop: the interval, jittered by ±20% so that pods do not poll in lockstep. */
export const tickLength = (interval: Duration.Duration): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.nextBetween(0.8, 1.2), (factor) => Duration.times(interval, factor))

/**
 * Past about 900 SRV records an answer no longer fits in one DNS message (measured with unbound, see
 * BENCHMARKS.md): the server then sends no records, or only those that fit. Discovery warns when the set
 * grows to this size, while there is still time to split the pods over several Services.
 */
export const LARGE_ANSWER_WARNING = 800

/** The longest wait for the lookup that confirms a large shrink. */
export const CONFIRMATION_DELAY_MAX = Duration.seconds(1)

/**
 * How long after an answer that is a large shrink the confirming lookup is made: a quarter of the
 * interval, at most {@link CONFIRMATION_DELAY_MAX}. Long enough for a flapping server to flap back,
 * short enough that a real scale-down is applied well within two intervals (at R = 15 s: one second).
 */
export const confirmationDelay = (interval: Duration.Duration): Duration.Duration =>
  Duration.min(Duration.times(interval, 0.25), CONFIRMATION_DELAY_MAX)

/**
 * Whether replacing `previous` by `next` is a large shrink: it removes more than half of the peers
 * (this pod included in the count), or it leaves this pod alone after it had peers. Such an answer is
 * applied only once the next lookup agrees. From a set of 1 nothing is large; removing 1 of 3 or 2 of 4
 * is not; removing 2 of 3, 3 of 4, or the only other peer is.
 */
export const isLargeShrink = (previous: PeerSet.PeerSet, next: PeerSet.PeerSet): boolean => {
  if (previous.peers.length <= 1) return false
  const kept = new Set(next.peers)
  const removed = previous.peers.filter((id) => !kept.has(id)).length
  return removed * 2 > previous.peers.length || next.peers.length === 1
}

/** Logs a failure or defect of a background fiber's work with `message` instead of ending the fiber; interruption goes through. */
const logDefect = (message: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A | void, never, R> =>
  Effect.catchCause(
    self,
    (cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(Cause.fromReasons(cause.reasons.filter(Cause.isInterruptReason)))
        : Effect.logError(message, cause)
  )

/** The first wait of {@link untilListed}; it doubles up to {@link UNLISTED_POLL_CAP}. */
const UNLISTED_POLL_BASE = Duration.millis(100)
/** The longest wait between two lookups of {@link untilListed}. */
const UNLISTED_POLL_CAP = Duration.millis(500)
/** How long {@link untilListed} looks before it leaves the pod to the ticks: a pod may be unready that long. */
const UNLISTED_POLL_MAX = Duration.minutes(2)

/**
 * While DNS has never listed this pod (it is starting: it owns nothing yet, see PeerSet.ownershipPeers),
 * looks up sooner than the ticks — after 100 ms, then doubling to every 500 ms, for two minutes at most —
 * so that it sees itself listed before the others see it at their ticks, and its share never lies between
 * them with no owner. Lookups are serialised with the ticks' (`lookup` is the service's `refresh`).
 */
const untilListed = <E>(current: Effect.Effect<PeerSet.PeerSet>, lookup: Effect.Effect<unknown, E>) =>
  current.pipe(
    Effect.flatMap((set) => (set.everListed ? Effect.succeed(set) : Effect.andThen(Effect.ignore(lookup), current))),
    Effect.flatMap((set) => (set.everListed ? Effect.void : Effect.fail("unlisted" as const))),
    Effect.retry(
      Schedule.exponential(UNLISTED_POLL_BASE).pipe(
        Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, UNLISTED_POLL_CAP))),
        Schedule.upTo({ duration: UNLISTED_POLL_MAX })
      )
    ),
    Effect.ignore
  )

/**
 * What one lookup found: the listed ids, the addresses the answer gave for them, the targets that were not
 * the Service's, and SRV records with port 0.
 */
interface Listing {
  readonly ids: ReadonlyArray<PeerId.PeerId>
  readonly addresses: ReadonlyMap<PeerId.PeerId, ReadonlyArray<string>>
  readonly foreign: ReadonlyArray<string>
  readonly portZero: number
}

/** A large shrink waiting for the next lookup: the ids it would remove, and its sizes for the logs. */
interface HeldShrink {
  readonly removed: ReadonlySet<PeerId.PeerId>
  readonly peers: number
  readonly answered: number
}

/** The result of one lookup for the loop: the set, and whether the answer was held as a large shrink. */
interface Outcome {
  readonly set: PeerSet.PeerSet
  readonly held: boolean
}

/**
 * The lookup that lists the peers, as the settings ask for (SRV of the port, or A/AAAA of the Service).
 * Suspended, so that a resolver that does its work when called still looks up anew every time.
 *
 * Bounded here by the lookup timeout, and this is the bound that counts: it holds for any resolver and
 * runs on the fiber's clock (so `TestClock` moves it). `DnsResolver.layer` is given the same duration
 * only to share it among its servers and to end its sockets' timers; when it says `timeout` first, its
 * error (which names the server) is the one kept.
 */
const listPeers = (settings: Settings, resolver: DnsResolver["Service"]): {
  readonly name: string
  readonly lookup: Effect.Effect<Listing, DnsLookupError>
} => {
  const domain = PeerId.serviceDomain(settings)
  const bounded = <A>(name: string, rrtype: DnsLookupError["rrtype"], lookup: () => Effect.Effect<A, DnsLookupError>) =>
    Effect.suspend(lookup).pipe(
      Effect.timeoutOrElse({
        duration: settings.lookupTimeout,
        orElse: () => Effect.fail(new DnsLookupError({ outcome: "timeout", name, rrtype }))
      })
    )
  if (settings.record === "a") {
    return {
      name: domain,
      lookup: Effect.map(bounded(domain, "A/AAAA", () => resolver.resolveAddresses(domain)), (addresses) => ({
        ids: addresses.map(PeerId.fromIp),
        addresses: new Map(),
        foreign: [],
        portZero: 0
      }))
    }
  }
  const name = PeerId.srvName(settings)
  return {
    name,
    lookup: Effect.map(bounded(name, "SRV", () => resolver.resolveSrv(name)), (records) => {
      const ids: Array<PeerId.PeerId> = []
      const addresses = new Map<PeerId.PeerId, ReadonlyArray<string>>()
      const foreign: Array<string> = []
      let portZero = 0
      for (const record of records) {
        // RFC 2782: port 0 means the service is not offered there; such a record is no peer.
        if (record.port === 0) {
          portZero += 1
          continue
        }
        Option.match(PeerId.fromTarget(record.name, domain), {
          onNone: () => foreign.push(record.name),
          onSome: (id) => {
            ids.push(id)
            if (record.addresses.length > 0) addresses.set(id, record.addresses)
          }
        })
      }
      return { ids, addresses, foreign, portZero }
    })
  }
}

/** The change of membership from `previous` to `current`, as {@link Service.changes} publishes it. */
const membershipChange = (previous: PeerSet.PeerSet, current: PeerSet.PeerSet): PeerSet.MembershipChange => ({
  previous,
  current,
  ...PeerSet.difference(previous, current)
})

/** Builds the service and starts its refresh fiber in the current scope. */
export const make = Effect.gen(function*() {
  const settings = yield* PeerDiscoveryConfig
  const resolver = yield* DnsResolver
  const identity = PeerId.identify(settings)
  const { lookup, name } = listPeers(settings, resolver)
  const state = yield* SubscriptionRef.make(PeerSet.initial(identity))
  const oneLookupAtATime = yield* Semaphore.make(1)
  const heldShrink = yield* Ref.make(Option.none<HeldShrink>())
  /** The result of the previous lookup, so that failures are logged once per change, not at every retry. */
  const lastResult = yield* Ref.make<Metrics.LookupResult | undefined>(undefined)
  const delay = confirmationDelay(settings.refreshInterval)

  /** Ends a held shrink that the next lookup did not confirm: counted and logged. */
  const dropHeld = (held: HeldShrink, because: string) =>
    Metric.update(Metrics.largeShrinksWithResult("unconfirmed"), 1).pipe(
      Effect.andThen(
        Effect.logWarning("the next lookup did not confirm a large shrink of the peers; it was not applied").pipe(
          Effect.annotateLogs({ peers: held.peers, answered: held.answered, removed: held.removed.size, because, name })
        )
      )
    )

  const publish = (listing: Listing, at: Date): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      const previous = yield* SubscriptionRef.get(state)
      const current = PeerSet.fromAnswer(identity, listing.ids, at, previous, listing.addresses)
      if (listing.portZero > 0) {
        yield* Metric.update(Metrics.ignoredRecordsWithReason("port_zero"), listing.portZero)
      }
      const listed = new Set(current.peers)
      const held = yield* Ref.getAndSet(heldShrink, Option.none())
      const confirmed = Option.isSome(held) && [...held.value.removed].every((id) => !listed.has(id))
      if (Option.isSome(held) && !confirmed) {
        yield* dropHeld(held.value, "its answer lists peers the first one left out")
      }
      if (confirmed) {
        yield* Metric.update(Metrics.largeShrinksWithResult("confirmed"), 1)
        yield* Effect.logInfo("a second lookup confirmed a large shrink of the peers; applying it").pipe(
          Effect.annotateLogs({ peers: previous.peers.length, answered: current.peers.length, name })
        )
      } else if (isLargeShrink(previous, current)) {
        const removed = new Set(previous.peers.filter((id) => !listed.has(id)))
        yield* Ref.set(
          heldShrink,
          Option.some({ removed, peers: previous.peers.length, answered: current.peers.length })
        )
        yield* Effect.logInfo(
          "an answer would shrink the peers by more than half; waiting for the next lookup to confirm it"
        ).pipe(
          Effect.annotateLogs({
            peers: previous.peers.length,
            answered: current.peers.length,
            removed: removed.size,
            confirmIn: Duration.format(delay),
            name
          })
        )
        return { set: previous, held: true }
      }
      yield* SubscriptionRef.set(state, current)
      yield* Metric.update(Metrics.peerPodCount, current.peers.length)
      yield* Metric.update(Metrics.selfInDns, current.selfInDns ? 1 : 0)
      yield* Metric.update(Metrics.lastSuccessTimestamp, at.getTime() / 1000)
      if (listing.foreign.length > 0) {
        yield* Metric.update(Metrics.foreignTargets, listing.foreign.length)
        yield* Effect.logWarning("ignored SRV targets outside the Service's domain").pipe(
          Effect.annotateLogs({
            targets: boundedList(listing.foreign),
            count: listing.foreign.length,
            domain: PeerId.serviceDomain(settings)
          })
        )
      }
      if (listing.ids.length >= LARGE_ANSWER_WARNING && previous.peers.length < LARGE_ANSWER_WARNING) {
        yield* Effect.logWarning(
          "the peers' DNS answer nears the largest one DNS message can carry (about 900 SRV records); split the pods over several Services"
        ).pipe(Effect.annotateLogs({ records: listing.ids.length, name }))
      }
      if (!PeerSet.sameMembers(previous, current)) {
        const { joined, left } = PeerSet.difference(previous, current)
        yield* Metric.update(Metrics.membershipChanges, 1)
        yield* Effect.logInfo("peer membership changed").pipe(
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
      return { set: current, held: false }
    })

  /** Logs a failed lookup when its outcome differs from the previous lookup's; the same failure again is only debug. */
  const logFailure = (
    error: DnsLookupError,
    previousResult: Metrics.LookupResult | undefined,
    kept: PeerSet.PeerSet
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

  /** One lookup, its metrics and its effect on the set. Never two at once. */
  const attemptOutcome: Effect.Effect<Outcome, DnsLookupError> = Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const result = yield* Effect.result(lookup)
    const finished = yield* Clock.currentTimeMillis
    const outcome: Metrics.LookupResult = Result.match(result, { onFailure: (e) => e.outcome, onSuccess: () => "ok" })
    yield* Metric.update(Metrics.lookupDuration, (finished - started) / 1000)
    yield* Metric.update(Metrics.lookupsWithResult(outcome), 1)
    yield* Effect.annotateCurrentSpan("dns.outcome", outcome)
    const previousResult = yield* Ref.getAndSet(lastResult, outcome)
    const answered = outcome === "ok" || outcome === "nxdomain" || outcome === "nodata"
    if (answered && previousResult !== undefined && !["ok", "nxdomain", "nodata"].includes(previousResult)) {
      yield* Effect.logInfo("peer lookups answer again").pipe(Effect.annotateLogs({ after: previousResult, name }))
    }
    const at = new Date(finished)
    const current = yield* Result.match(result, {
      onSuccess: (listing) => publish(listing, at),
      onFailure: (error) =>
        error.isAnswer
          ? Effect.logDebug("DNS lists no ready pods").pipe(
            Effect.annotateLogs({ outcome: error.outcome, name }),
            Effect.andThen(publish({ ids: [], addresses: new Map(), foreign: [], portZero: 0 }, at))
          )
          : Effect.gen(function*() {
            const held = yield* Ref.getAndSet(heldShrink, Option.none())
            if (Option.isSome(held)) yield* dropHeld(held.value, `the next lookup failed: ${error.outcome}`)
            const kept = yield* SubscriptionRef.updateAndGet(state, PeerSet.markStale)
            yield* logFailure(error, previousResult, kept)
            return yield* Effect.fail(error)
          })
    })
    yield* Effect.annotateCurrentSpan("peers.count", current.set.peers.length)
    return current
  }).pipe(
    Effect.withSpan("PeerDiscovery.refresh", { attributes: { "dns.name": name } }),
    Effect.annotateLogs({ service: "peer-discovery", pod: identity.fallback }),
    oneLookupAtATime.withPermits(1)
  )

  /** One lookup, for {@link Service.refresh}: the set after it. */
  const attempt: Effect.Effect<PeerSet.PeerSet, DnsLookupError> = Effect.map(attemptOutcome, (outcome) => outcome.set)

  /** A lookup whose answer was held as a large shrink is followed by the confirming lookup, after the delay. */
  const confirmIfHeld = (outcome: Outcome): Effect.Effect<Outcome, DnsLookupError> =>
    outcome.held ? Effect.andThen(Effect.sleep(delay), attemptOutcome) : Effect.succeed(outcome)

  /**
   * One tick of the refresh loop: its work and its length side by side, so that ticks start every
   * interval ±20% whatever happens in them, and a tick whose work outlasts its length is followed at once
   * by the next. The work is `lookup` (then the confirming one when its answer is held), retried while it
   * fails until the tick is over, so a lookup after DNS recovers comes within a backoff delay (at most a
   * quarter interval, jittered) plus a lookup timeout. Nothing escapes a tick but interruption: a defect
   * is logged and the next tick comes.
   */
  const tick = (lookup: Effect.Effect<Outcome, DnsLookupError>) =>
    Effect.flatMap(tickLength(settings.refreshInterval), (length) =>
      Effect.all([
        lookup.pipe(
          Effect.flatMap(confirmIfHeld),
          Effect.retry(retrySchedule(settings.refreshInterval).pipe(Schedule.upTo({ duration: length }))),
          Effect.catch((error) =>
            Effect.logDebug("peer lookups failed all tick; retrying next tick").pipe(
              Effect.annotateLogs({ outcome: error.outcome, name })
            )
          ),
          logDefect("peer discovery refresh died; the loop goes on")
        ),
        Effect.sleep(length)
      ], { concurrency: 2, discard: true }))

  /** The hints being followed, by {@link Hint.key}, with the time (ms) at which each one's budget ends. */
  const followed = yield* Ref.make<ReadonlyMap<string, { readonly hint: Hint.Hint; readonly until: number }>>(new Map())
  /** Wakes the follower when a new hint is followed; sliding, so that any number of hints is one wake. */
  const wake = yield* Queue.sliding<void>(1)
  const budgetMs = Duration.toMillis(Hint.budget(settings.refreshInterval))
  const spacingMs = Duration.toMillis(Hint.HINT_MIN_SPACING)

  const hint = (received: Hint.Hint): Effect.Effect<Hint.Result> =>
    Effect.gen(function*() {
      const set = yield* SubscriptionRef.get(state)
      const now = yield* Clock.currentTimeMillis
      const result: Hint.Result = Hint.agrees(received, set) ? "agreed" : yield* Ref.modify(followed, (all) => {
        const key = Hint.key(received)
        if (all.has(key)) return ["pending" as const, all]
        if (all.size >= Hint.MAX_FOLLOWED_HINTS) return ["full" as const, all]
        return ["following" as const, new Map(all).set(key, { hint: received, until: now + budgetMs })]
      })
      yield* Metric.update(Metrics.hintsWith(received.kind, result), 1)
      if (result === "following") yield* Queue.offer(wake, undefined)
      return result
    })

  /** Ends the hints the set agrees with (confirmed) and those past their budget (expired); how many remain. */
  const settleHints = Effect.gen(function*() {
    const set = yield* SubscriptionRef.get(state)
    const now = yield* Clock.currentTimeMillis
    const [confirmed, expired, remaining] = yield* Ref.modify(followed, (all) => {
      const kept = new Map<string, { readonly hint: Hint.Hint; readonly until: number }>()
      let confirmed = 0
      let expired = 0
      for (const [key, entry] of all) {
        if (Hint.agrees(entry.hint, set)) confirmed += 1
        else if (entry.until <= now) expired += 1
        else kept.set(key, entry)
      }
      return [[confirmed, expired, kept.size] as const, kept]
    })
    if (confirmed > 0) yield* Metric.update(Metrics.hintsEndedWith("confirmed"), confirmed)
    if (expired > 0) {
      yield* Metric.update(Metrics.hintsEndedWith("expired"), expired)
      yield* Effect.logDebug("DNS did not confirm refresh hints within their budget; the ticks go on").pipe(
        Effect.annotateLogs({ expired, name })
      )
    }
    return remaining
  })

  /**
   * Follows hints: woken by a new one, looks up, then again after a backoff from
   * {@link Hint.HINT_MIN_SPACING} doubling up to {@link Hint.HINT_BACKOFF_CAP}, until every hint
   * followed is confirmed or expired; a hint that comes meanwhile waits for the next lookup of the
   * sequence. Lookups are never closer than the spacing, and a flood of any hints costs at most the
   * lookups of one backoff over a budget (about 13 at the 10 s budget).
   */
  const followHints = Effect.gen(function*() {
    let lastLookup = Number.NEGATIVE_INFINITY
    for (;;) {
      yield* Queue.take(wake)
      let delay = Hint.HINT_MIN_SPACING
      while ((yield* settleHints) > 0) {
        const now = yield* Clock.currentTimeMillis
        if (now < lastLookup + spacingMs) yield* Effect.sleep(Duration.millis(lastLookup + spacingMs - now))
        lastLookup = yield* Clock.currentTimeMillis
        // A failure is handled (kept set, logs, metrics) inside the lookup; the backoff goes on.
        yield* Effect.ignore(attemptOutcome)
        if ((yield* settleHints) === 0) break
        // Hints that come meanwhile join this sequence at its next lookup, without resetting its
        // backoff: many pods changing at once (a mass start) cost each receiver at most the backoff.
        yield* Effect.sleep(delay)
        yield* Queue.clear(wake)
        delay = Hint.nextDelay(delay)
      }
    }
  }).pipe(
    logDefect("following refresh hints died; hints are ignored from now on")
  )

  // The layer is built once the first lookup is over, whatever it found: the first tick's lookup
  // completes `firstLookup` (its retries, if it failed, go on in the loop).
  const firstLookup = yield* Deferred.make<void>()
  yield* tick(Effect.ensuring(attemptOutcome, Deferred.complete(firstLookup, Effect.void))).pipe(
    Effect.andThen(Effect.forever(tick(attemptOutcome))),
    Effect.annotateLogs({ service: "peer-discovery", pod: identity.fallback }),
    Effect.forkScoped
  )
  yield* Deferred.await(firstLookup)
  yield* followHints.pipe(Effect.annotateLogs({ service: "peer-discovery", pod: identity.fallback }), Effect.forkScoped)
  yield* untilListed(SubscriptionRef.get(state), attempt).pipe(
    Effect.annotateLogs({ service: "peer-discovery", pod: identity.fallback }),
    Effect.forkScoped
  )

  const membership = SubscriptionRef.changes(state).pipe(Stream.changesWith(PeerSet.sameMembers))

  const changes = membership.pipe(
    Stream.zipWithPrevious,
    Stream.filterMap(
      Filter.fromPredicateOption(([previous, current]: [Option.Option<PeerSet.PeerSet>, PeerSet.PeerSet]) =>
        Option.map(previous, (before) => membershipChange(before, current))
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
          Effect.flatMap(SubscriptionRef.get(state), (set) =>
            Effect.fail(
              new PeerWaitTimeout({ wanted: count, seen: set.peers.length, timeout: Duration.fromInputUnsafe(timeout) })
            ))
      }))
    )

  // Under the lookups' permit: `publish` reads the set and writes the next one, which must carry the flag.
  const leave = oneLookupAtATime.withPermits(1)(
    Effect.gen(function*() {
      const before = yield* SubscriptionRef.getAndUpdate(state, PeerSet.markLeaving)
      if (before.leaving) return
      yield* Effect.logInfo("this pod is leaving; it owns nothing once DNS no longer lists it").pipe(
        Effect.annotateLogs({ selfInDns: before.selfInDns, peers: before.peers.length })
      )
    })
  ).pipe(Effect.annotateLogs({ service: "peer-discovery", pod: identity.fallback }))

  return {
    current: SubscriptionRef.get(state),
    membership,
    changes,
    awaitPeers,
    refresh: attempt,
    refreshes: SubscriptionRef.changes(state),
    hint,
    leave
  } satisfies Service
})

/** Peer discovery over the configured resolver; its refresh fiber stops when the layer's scope closes. */
export const layer: Layer.Layer<PeerDiscovery, never, PeerDiscoveryConfig | DnsResolver> = Layer.effect(
  PeerDiscovery,
  make
)
