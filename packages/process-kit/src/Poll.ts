/**
 * Waiting for what another process says (a pod's HTTP API, a server's readiness): nothing pushes it, so
 * it is read again and again on a schedule, within a deadline. State held in this process is awaited
 * through its `SubscriptionRef`s instead (see the simulator's `Cluster.awaitValue`).
 */
import { Data, Duration, Effect, type Predicate, Schedule } from "effect"

/** A wait that ran out of time; says what was awaited and for how long. */
export class WaitTimeout
  extends Data.TaggedError("WaitTimeout")<{ readonly what: string; readonly timeout: Duration.Duration }>
{
  override get message(): string {
    return `timed out after ${Duration.format(this.timeout)} waiting for ${this.what}`
  }
}

/** How often by default: well below the shortest refresh interval the tests and the simulator run (250 ms). */
export const POLL_INTERVAL = Duration.millis(50)

/** How long and how often to poll. */
export interface Options {
  readonly timeout: Duration.Input
  /** Between the end of one read and the start of the next; {@link POLL_INTERVAL} by default. */
  readonly interval?: Duration.Input | undefined
}

/**
 * Runs `read` until its value satisfies `done`, every `interval`, and returns that value. A failure of
 * `read` ends the wait with it; after `timeout`, a {@link WaitTimeout} saying `what`.
 */
export const pollUntil = <A, E, R>(
  what: string,
  read: Effect.Effect<A, E, R>,
  done: Predicate.Predicate<A>,
  options: Options
): Effect.Effect<A, E | WaitTimeout, R> =>
  read.pipe(
    Effect.repeat({ schedule: Schedule.spaced(options.interval ?? POLL_INTERVAL), until: done }),
    Effect.timeoutOrElse({
      duration: options.timeout,
      orElse: () => Effect.fail(new WaitTimeout({ what, timeout: Duration.fromInputUnsafe(options.timeout) }))
    })
  )

/**
 * Waits until `probe` succeeds with true, every `interval`, for at most `timeout`. A probe that fails
 * counts as false (the server is not up yet, the connection was refused): only the deadline ends the wait.
 */
export const waitUntil = <E, R>(
  what: string,
  probe: Effect.Effect<boolean, E, R>,
  options: Options
): Effect.Effect<void, WaitTimeout, R> =>
  Effect.asVoid(pollUntil(what, Effect.orElseSucceed(probe, () => false), (ok) => ok, options))
