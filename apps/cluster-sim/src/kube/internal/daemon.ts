/**
 * A long-running component (etcd, kube-apiserver, CoreDNS…) as a scoped resource: started with its
 * output in a log file of its own, awaited until it answers, and stopped by its own process id
 * (SIGTERM, then SIGKILL) when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, readFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, Schedule, type Scope } from "effect"

/** A started component. */
export interface Daemon {
  readonly name: string
  readonly child: ChildProcess
  /** Its log file (stdout and stderr). */
  readonly log: string
  /** The last lines of its log, for error messages. */
  readonly tail: (lines?: number) => string
  /** Resolves when it has exited. */
  readonly exited: Promise<void>
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null

/** Sends SIGTERM to the component's own pid, then SIGKILL after `grace`; resolves once it is gone. */
export const stopDaemon = (daemon: Daemon, grace: Duration.DurationInput = Duration.seconds(5)): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (daemon.child.pid === undefined || !isRunning(daemon.child)) return Effect.void
    process.kill(daemon.child.pid, "SIGTERM")
    return Effect.promise(() => daemon.exited).pipe(
      Effect.timeout(grace),
      Effect.catchAll(() =>
        Effect.sync(() => {
          if (daemon.child.pid !== undefined && isRunning(daemon.child)) process.kill(daemon.child.pid, "SIGKILL")
        }).pipe(Effect.zipRight(Effect.promise(() => daemon.exited)))
      )
    )
  })

/** Starts `command` with `args`; its output goes to `<logFolder>/<name>.log`. Not scoped: see {@link daemon}. */
const spawnDaemon = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  logFolder: string,
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME }
): Daemon => {
  const log = join(logFolder, `${name}.log`)
  const file = createWriteStream(log, { flags: "a" })
  const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], env })
  child.stdout?.pipe(file, { end: false })
  child.stderr?.pipe(file, { end: false })
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      file.end()
      resolve()
    }))
  const tail = (lines = 30) => {
    try {
      return readFileSync(log, "utf8").split("\n").slice(-lines).join("\n")
    } catch {
      return ""
    }
  }
  return { name, child, log, tail, exited }
}

/**
 * Starts a component in the scope and waits until `ready` succeeds (retried every 100 ms, at most
 * `timeout`); fails with its last log lines when it exits first or never becomes ready.
 */
export const daemon = <E, R>(
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly logFolder: string
    readonly ready: Effect.Effect<unknown, E, R>
    readonly timeout: Duration.DurationInput
    readonly env?: NodeJS.ProcessEnv
  }
): Effect.Effect<Daemon, Error, R | Scope.Scope> =>
  Effect.gen(function*() {
    const started = yield* Effect.acquireRelease(
      Effect.sync(() => spawnDaemon(name, command, args, options.logFolder, options.env)),
      (d) => stopDaemon(d)
    )
    const exitedEarly = Effect.promise(() => started.exited).pipe(
      Effect.zipRight(Effect.fail(new Error(`${name} exited before it was ready:\n${started.tail()}`)))
    )
    const ready = options.ready.pipe(
      Effect.retry(Schedule.spaced(Duration.millis(100))),
      // Retried until the timeout: its own error never surfaces.
      Effect.mapError((error) => new Error(String(error))),
      Effect.timeoutFail({
        duration: options.timeout,
        onTimeout: () => new Error(`${name} was not ready after ${Duration.format(Duration.decode(options.timeout))}:\n${started.tail()}`)
      })
    )
    yield* Effect.raceFirst(ready, exitedEarly)
    return started
  })
