/**
 * The hint follower: takes refresh hints ({@link Hint.Hint}) from peers and looks DNS up sooner than the
 * ticks, with a short backoff, until DNS agrees with what each hint expects or its budget ends. It only
 * looks up; what an answer does to the set is the refresher's.
 */
import { Clock, Duration, Effect, Metric, Queue, Ref } from "effect"
import * as Hint from "../Hint.js"
import * as Metrics from "../Metrics.js"
import type { PeerSet } from "../PeerSet.js"
import { logDefect } from "./logDefect.js"

/** A hint being followed, with the time (ms) at which its budget ends. */
interface Followed {
  readonly hint: Hint.Hint
  readonly until: number
}

/** What the service gets from the follower. */
export interface HintFollower {
  /** Takes a hint: says what became of it, and wakes the follower when it is to be followed. */
  readonly hint: (hint: Hint.Hint) => Effect.Effect<Hint.Result>
  /** The follower itself, to run in a fiber of the service's scope; it never ends by itself. */
  readonly follow: Effect.Effect<void>
}

/**
 * The follower of the set `current`, looking up through `refresh` (the refresher's lookup, never two at
 * once) at refresh interval `interval`; `name` is the name looked up, for its logs.
 */
export const make = (options: {
  readonly interval: Duration.Duration
  readonly name: string
  readonly current: Effect.Effect<PeerSet>
  readonly refresh: Effect.Effect<unknown, unknown>
}): Effect.Effect<HintFollower> =>
  Effect.gen(function*() {
    const { current, interval, name, refresh } = options
    /** The hints being followed, by {@link Hint.key}. */
    const followed = yield* Ref.make<ReadonlyMap<string, Followed>>(new Map())
    /** Wakes the follower when a new hint is followed; sliding, so that any number of hints is one wake. */
    const wake = yield* Queue.sliding<void>(1)
    const budgetMs = Duration.toMillis(Hint.budget(interval))
    const spacingMs = Duration.toMillis(Hint.HINT_MIN_SPACING)

    const hint = (received: Hint.Hint): Effect.Effect<Hint.Result> =>
      Effect.gen(function*() {
        const set = yield* current
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
      const set = yield* current
      const now = yield* Clock.currentTimeMillis
      const [confirmed, expired, remaining] = yield* Ref.modify(followed, (all) => {
        const kept = new Map<string, Followed>()
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
     * Woken by a new hint, looks up, then again after a backoff from {@link Hint.HINT_MIN_SPACING}
     * doubling up to {@link Hint.HINT_BACKOFF_CAP}, until every hint followed is confirmed or expired; a
     * hint that comes meanwhile waits for the next lookup of the sequence. Lookups are never closer than
     * the spacing, and a flood of any hints costs at most the lookups of one backoff over a budget (about
     * 13 at the 10 s budget).
     */
    const follow = Effect.gen(function*() {
      let lastLookup = Number.NEGATIVE_INFINITY
      for (;;) {
        yield* Queue.take(wake)
        let delay = Hint.HINT_MIN_SPACING
        while ((yield* settleHints) > 0) {
          const now = yield* Clock.currentTimeMillis
          if (now < lastLookup + spacingMs) yield* Effect.sleep(Duration.millis(lastLookup + spacingMs - now))
          lastLookup = yield* Clock.currentTimeMillis
          // A failure is handled (kept set, logs, metrics) inside the lookup; the backoff goes on.
          yield* Effect.ignore(refresh)
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

    return { hint, follow }
  })
