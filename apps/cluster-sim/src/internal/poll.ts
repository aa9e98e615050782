/**
 * Waiting for what other processes say (the pods' HTTP APIs): nothing pushes it, so it is read again
 * and again, within a deadline. State this package holds is awaited through its `SubscriptionRef`s instead.
 */
import { Duration, Effect, type Predicate, Schedule } from "effect"

/** How often by default: well below the shortest interval the simulator runs (250 ms). */
export const POLL_INTERVAL = Duration.millis(20)

/**
 * Runs `read` until its value satisfies `done`, every `interval` (default {@link POLL_INTERVAL}), and
 * returns that value; fails with an Error saying `what` after `timeout`.
 */
export const pollUntil = <A, E, R>(
  what: string,
  read: Effect.Effect<A, E, R>,
  done: Predicate.Predicate<A>,
  options: { readonly timeout: Duration.DurationInput; readonly interval?: Duration.DurationInput }
): Effect.Effect<A, E | Error, R> =>
  read.pipe(
    Effect.repeat(Schedule.identity<A>().pipe(
      Schedule.addDelay(() => options.interval ?? POLL_INTERVAL),
      Schedule.untilInput(done)
    )),
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () => new Error(`timed out after ${Duration.format(Duration.decode(options.timeout))} waiting for ${what}`)
    })
  )
