/**
 * Child processes that tests, the simulator and the benchmarks start — servers, pods, components — as
 * Effects: started with their output kept (in memory or in a log file of their own), awaited until
 * they answer, and stopped by their own process id (never by name), SIGTERM then SIGKILL after a grace
 * period. {@link scoped} ties a process to a scope, so that closing it (or interrupting the fiber)
 * stops the process.
 */
import { type ChildProcess as NodeChildProcess, spawn } from "node:child_process"
import { createWriteStream, readFileSync } from "node:fs"
import { Data, Deferred, Duration, Effect, Exit, Option, type Scope } from "effect"
import { type Options as PollOptions, waitUntil } from "./Poll.js"

/** How a process ended. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A started child process. */
export interface Started {
  readonly child: NodeChildProcess
  /** What it printed (stdout and stderr), for error messages; from its log file when it has one. */
  readonly output: () => string
  /** Its log file, when its output goes to one. */
  readonly logFile: string | undefined
  /** Completed when it has exited (and its log file is written). */
  readonly ended: Deferred.Deferred<Ended>
}

/** How to start a process. */
export interface StartOptions {
  /** Its whole environment: nothing of this process's is passed on unless given here. */
  readonly env?: NodeJS.ProcessEnv | undefined
  readonly cwd?: string | undefined
  /** Where its output goes (appended); kept in memory when absent. */
  readonly logFile?: string | undefined
}

/** Starts `command` with `args`. Not scoped: whoever starts it stops it ({@link stop}), or use {@link scoped}. */
export const start = (command: string, args: ReadonlyArray<string>, options: StartOptions = {}): Started => {
  const child = spawn(command, [...args], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd })
  })
  const ended = Deferred.makeUnsafe<Ended>()
  const end = (code: number | null, signal: NodeJS.Signals | null) =>
    Deferred.doneUnsafe(ended, Exit.succeed({ code, signal }))
  if (options.logFile !== undefined) {
    const logFile = options.logFile
    const file = createWriteStream(logFile, { flags: "a" })
    child.stdout?.pipe(file, { end: false })
    child.stderr?.pipe(file, { end: false })
    child.once("exit", (code, signal) => file.end(() => end(code, signal)))
    const output = () => {
      try {
        return readFileSync(logFile, "utf8")
      } catch {
        return ""
      }
    }
    return { child, output, logFile, ended }
  }
  let output = ""
  child.stdout?.on("data", (chunk) => (output += String(chunk)))
  child.stderr?.on("data", (chunk) => (output += String(chunk)))
  // Its last output may still be in the pipes at "exit": the end waits for "close" (the pipes drained),
  // or one second at most, should a process it started keep them open.
  child.once("exit", (code, signal) => {
    const fallback = setTimeout(() => end(code, signal), 1000)
    child.once("close", () => {
      clearTimeout(fallback)
      end(code, signal)
    })
  })
  // A command that cannot be started at all (ENOENT) emits "error" and never "exit".
  child.once("error", (error) => {
    output += String(error)
    end(null, null)
  })
  return { child, output: () => output, logFile: undefined, ended }
}

/** Whether it still runs. */
export const isRunning = ({ child }: Started): boolean => child.exitCode === null && child.signalCode === null

/** Waits until it has exited (at once if it has already), and says how. */
export const exited = (started: Started): Effect.Effect<Ended> => Deferred.await(started.ended)

/** A process that should have exited by itself and had not; carries what it printed. */
export class StillRunning
  extends Data.TaggedError("StillRunning")<{ readonly timeout: Duration.Duration; readonly output: string }>
{
  override get message(): string {
    return `still running after ${Duration.toMillis(this.timeout)} ms:\n${this.output}`
  }
}

/** Waits, at most `timeout`, for a process that must exit by itself (a refused configuration, say). */
export const exitedWithin = (started: Started, timeout: Duration.Input): Effect.Effect<Ended, StillRunning> =>
  exited(started).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(new StillRunning({ timeout: Duration.fromInputUnsafe(timeout), output: started.output() }))
    })
  )

/** Sends `signal` to its own pid, if it still runs. */
export const signal = (started: Started, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.sync(() => {
    if (started.child.pid !== undefined && isRunning(started)) process.kill(started.child.pid, signal)
  })

/**
 * Stops it by its own pid: `signal` (SIGTERM by default), then SIGKILL after `grace` (5 s by default);
 * returns how it ended.
 */
export const stop = (
  started: Started,
  options: { readonly grace?: Duration.Input; readonly signal?: NodeJS.Signals } = {}
): Effect.Effect<Ended> =>
  Effect.gen(function*() {
    yield* signal(started, options.signal ?? "SIGTERM")
    const ended = yield* exited(started).pipe(Effect.timeoutOption(options.grace ?? Duration.seconds(5)))
    if (Option.isSome(ended)) return ended.value
    yield* signal(started, "SIGKILL")
    return yield* exited(started)
  })

/** {@link start} in the scope: closing the scope stops the process ({@link stop}). */
export const scoped = (
  command: string,
  args: ReadonlyArray<string>,
  options: StartOptions & { readonly grace?: Duration.Input } = {}
): Effect.Effect<Started, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => start(command, args, options)), (started) => stop(started, options))

/** The process could not be awaited: it exited first, or never answered. */
export class NotReady extends Data.TaggedError("NotReady")<{
  /** Why: it exited first (with how), or the wait timed out. */
  readonly reason: string
  /** What it had printed. */
  readonly output: string
}> {
  override get message(): string {
    return `${this.reason}\nits output:\n${this.output}`
  }
}

/**
 * Waits until the process answers `probe` (true), polled as {@link waitUntil} does, and fails at once if
 * it exits first. On failure the process is stopped and the error carries its last output. Not inside an
 * acquisition (`acquireRelease`'s first effect): there nothing can be interrupted, so neither the deadline
 * nor the race with the exit could end the wait — acquire the process, then await it.
 */
export const awaitReady = <E, R>(
  started: Started,
  what: string,
  probe: Effect.Effect<boolean, E, R>,
  options: PollOptions
): Effect.Effect<void, NotReady, R> => {
  const exitedFirst = Effect.flatMap(
    exited(started),
    ({ code, signal }) => Effect.fail(`the process exited (code ${code}, signal ${signal}) before ${what}`)
  )
  return Effect.raceFirst(
    Effect.mapError(waitUntil(what, probe, options), (timeout) => timeout.message),
    exitedFirst
  ).pipe(
    Effect.catch((reason) =>
      Effect.andThen(stop(started), Effect.fail(new NotReady({ reason, output: started.output() })))
    )
  )
}
