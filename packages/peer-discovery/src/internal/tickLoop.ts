/**
 * The refresh loop: a lookup every refresh interval (±20% jitter), retried with backoff while it fails,
 * followed by the confirming lookup when its answer is held as a large shrink.
 */
import { Duration, Effect, Random, Schedule } from "effect"
import type { DnsLookupError } from "../DnsLookupError.js"
import type { Settings } from "../PeerDiscoveryConfig.js"
import { confirmationDelay } from "./answerPolicy.js"
import { logDefect } from "./logDefect.js"
import type { LookupOutcome } from "./refresher.js"

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
 * The refresh loop over `refresh` (the refresher's lookup), forever; `onFirstLookup` runs once the first
 * tick's lookup is over, whatever it found (its retries, if it failed, go on in the loop).
 */
export const run = (options: {
  readonly settings: Settings
  readonly name: string
  readonly refresh: Effect.Effect<LookupOutcome, DnsLookupError>
  readonly onFirstLookup: Effect.Effect<unknown>
}): Effect.Effect<never> => {
  const { name, onFirstLookup, refresh, settings } = options
  const delay = confirmationDelay(settings.refreshInterval)

  /** A lookup whose answer was held as a large shrink is followed by the confirming lookup, after the delay. */
  const confirmIfHeld = (outcome: LookupOutcome): Effect.Effect<LookupOutcome, DnsLookupError> =>
    outcome.held ? Effect.andThen(Effect.sleep(delay), refresh) : Effect.succeed(outcome)

  /**
   * One tick: its work and its length side by side, so that ticks start every interval ±20% whatever
   * happens in them, and a tick whose work outlasts its length is followed at once by the next. The work
   * is `lookup` (then the confirming one when its answer is held), retried while it fails until the tick
   * is over, so a lookup after DNS recovers comes within a backoff delay (at most a quarter interval,
   * jittered) plus a lookup timeout. Nothing escapes a tick but interruption: a defect is logged and the
   * next tick comes.
   */
  const tick = (lookup: Effect.Effect<LookupOutcome, DnsLookupError>) =>
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

  return tick(Effect.ensuring(refresh, onFirstLookup)).pipe(Effect.andThen(Effect.forever(tick(refresh))))
}
