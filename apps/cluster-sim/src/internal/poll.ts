/** Waiting for a condition of real processes: poll it every few milliseconds, within a deadline. */
import { Duration, Effect, Option, Schedule } from "effect"

/** How often conditions are polled: well below the shortest interval the simulator runs (250 ms). */
export const POLL_INTERVAL = Duration.millis(20)

/**
 * Polls `check` until it gives a value, for at most `timeout`, every `interval` (default
 * {@link POLL_INTERVAL}); fails with an Error saying `what`.
 */
export const pollUntil = <A, R>(
  what: string,
  timeout: Duration.DurationInput,
  check: Effect.Effect<Option.Option<A>, never, R>,
  interval: Duration.DurationInput = POLL_INTERVAL
): Effect.Effect<A, Error, R> =>
  check.pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail(undefined), onSome: Effect.succeed })),
    Effect.retry(Schedule.spaced(interval)),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(timeout))} waiting for ${what}`)
    }),
    Effect.catchIf((error): error is undefined => error === undefined, () => Effect.dieMessage("unreachable"))
  )
