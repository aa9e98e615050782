/**
 * The process kit (`@miroir/process-kit`) as async tests call it: its child processes and its polling as
 * Promises. Each function here runs the Effect of {@link ChildProcess} or {@link Poll} (the one
 * implementation) to a Promise; code that is itself an Effect uses those modules directly.
 */
import { Duration, Effect } from "effect"
import * as Poll from "@miroir/process-kit/Poll"
import * as ChildProcess from "@miroir/process-kit/ChildProcess"

/** Polls `probe` every 50 ms until it resolves true, for at most `timeoutMs`. */
export const waitUntil = (what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> =>
  Effect.runPromise(Poll.waitUntil(what, Effect.tryPromise(probe), { timeout: Duration.millis(timeoutMs) }))

/** A child process started by a test, with its output kept for error messages. */
export type Started = ChildProcess.Started

/** How a process ended. */
export type Ended = ChildProcess.Ended

/** Starts `command` with `args` (and optionally its own environment and folder); its output is collected. */
export const start = ChildProcess.start

/** Resolves when the process has exited (at once if it already has). */
export const exited = (started: Started): Promise<Ended> => Effect.runPromise(ChildProcess.exited(started))

/**
 * Stops a process this test started, by its own pid: `signal` (SIGTERM), then SIGKILL after `graceMs`.
 * Returns how it ended.
 */
export const stop = (started: Started, graceMs = 5_000, signal: NodeJS.Signals = "SIGTERM"): Promise<Ended> =>
  Effect.runPromise(ChildProcess.stop(started, { grace: Duration.millis(graceMs), signal }))

/**
 * Waits until a process this test started answers `probe`, for at most `timeoutMs`, and fails at once
 * if it exits first. On failure the process is stopped and the error carries what it printed.
 */
export const awaitReady = (
  started: Started,
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>
): Promise<void> =>
  Effect.runPromise(
    ChildProcess.awaitReady(started, what, Effect.tryPromise(probe), { timeout: Duration.millis(timeoutMs) })
  )
