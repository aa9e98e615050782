/**
 * Helpers for async tests that run real servers: executables, and the process kit's processes and
 * polling ({@link Process}, {@link Poll}) as Promises.
 */
import { accessSync, constants } from "node:fs"
import { Duration, Effect } from "effect"
import * as Poll from "@miroir/process-kit/Poll"
import * as Process from "@miroir/process-kit/Process"

/** The path of an executable, looked up in PATH and the sbin folders (Debian puts servers there). */
export const findExecutable = (name: string, installHint: string): string => {
  const folders = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"]
  for (const folder of folders.filter((f) => f.length > 0)) {
    try {
      accessSync(`${folder}/${name}`, constants.X_OK)
      return `${folder}/${name}`
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${name} is not installed: ${installHint}`)
}

/**
 * The kit as async tests call it: each of these runs the Effect of {@link Poll} or {@link Process} (the
 * one implementation) to a Promise. Code that is itself an Effect uses those modules directly.
 */

/** Polls `probe` every 50 ms until it resolves true, for at most `timeoutMs`. */
export const waitUntil = (what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> =>
  Effect.runPromise(Poll.waitUntil(what, Effect.tryPromise(probe), { timeout: Duration.millis(timeoutMs) }))

/** A child process started by a test, with its output kept for error messages. */
export type Started = Process.Started

/** How a process ended. */
export type Ended = Process.Ended

/** Starts `command` with `args` (and optionally its own environment and folder); its output is collected. */
export const start = Process.start

/** Resolves when the process has exited (at once if it already has). */
export const exited = (started: Started): Promise<Ended> => Effect.runPromise(Process.exited(started))

/**
 * Stops a process this test started, by its own pid: `signal` (SIGTERM), then SIGKILL after `graceMs`.
 * Returns how it ended.
 */
export const stop = (started: Started, graceMs = 5_000, signal: NodeJS.Signals = "SIGTERM"): Promise<Ended> =>
  Effect.runPromise(Process.stop(started, { grace: Duration.millis(graceMs), signal }))

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
    Process.awaitReady(started, what, Effect.tryPromise(probe), { timeout: Duration.millis(timeoutMs) })
  )
