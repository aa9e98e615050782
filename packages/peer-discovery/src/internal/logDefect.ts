/** How the background fibers of discovery outlive a failure or defect of their work. */
import { Cause, Effect } from "effect"

/**
 * Logs a failure or defect of a background fiber's work with `message` instead of ending the fiber;
 * interruption goes through, so that the fiber still stops with its scope.
 */
export const logDefect =
  (message: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A | void, never, R> =>
    Effect.catchCause(
      self,
      (cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(Cause.fromReasons(cause.reasons.filter(Cause.isInterruptReason)))
          : Effect.logError(message, cause)
    )
