/** Giving the Node event loop a turn from inside a long computation. Not API: the owners cache pauses with it. */
import { Effect } from "effect"

/**
 * Resumes after Node has polled for I/O (`setImmediate`). Effect's own `yieldNow` resumes in a
 * microtask most of the time, which lets other fibers run but not the HTTP server's socket callbacks:
 * a probe would still wait for the whole computation.
 */
export const yieldToEventLoop: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
