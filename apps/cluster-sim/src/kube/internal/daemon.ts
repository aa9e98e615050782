/**
 * A long-running component (etcd, kube-apiserver, CoreDNS…) as a scoped resource of the process kit
 * (`@miroir/process-kit`): started with its output in a log file of its own, awaited until it answers,
 * and stopped by its own process id (SIGTERM, then SIGKILL) when the scope closes.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Process from "@miroir/process-kit/ChildProcess"
import { Duration, Effect, type Scope } from "effect"

/** A started component. */
export interface Daemon {
  readonly name: string
  readonly process: Process.Started
  /** Its log file (stdout and stderr). */
  readonly log: string
  /** The last lines of its log, for error messages. */
  readonly tail: (lines?: number) => string
}

/** Sends SIGTERM to the component's own pid, then SIGKILL after `grace`; completes once it is gone. */
export const stopDaemon = (daemon: Daemon, grace: Duration.Input = Duration.seconds(5)): Effect.Effect<void> =>
  Effect.asVoid(Process.stop(daemon.process, { grace }))

/** Starts `command` with `args`; its output goes to `<logFolder>/<name>.log`. Not scoped: see {@link daemon}. */
const spawnDaemon = (
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  logFolder: string,
  env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME }
): Daemon => {
  const log = join(logFolder, `${name}.log`)
  const tail = (lines = 30) => {
    try {
      return readFileSync(log, "utf8").split("\n").slice(-lines).join("\n")
    } catch {
      return ""
    }
  }
  return { name, process: Process.start(command, args, { env, logFile: log }), log, tail }
}

/**
 * Starts a component in the scope and waits until `ready` succeeds (tried every 100 ms, at most
 * `timeout`); fails with its last log lines when it exits first or never becomes ready.
 */
export const daemon = <E, R>(
  name: string,
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly logFolder: string
    readonly ready: Effect.Effect<unknown, E, R>
    readonly timeout: Duration.Input
    readonly env?: NodeJS.ProcessEnv
  }
): Effect.Effect<Daemon, Error, R | Scope.Scope> =>
  Effect.gen(function*() {
    const started = yield* Effect.acquireRelease(
      Effect.sync(() => spawnDaemon(name, command, args, options.logFolder, options.env)),
      (d) => stopDaemon(d)
    )
    yield* Process.awaitReady(started.process, `${name} to be ready`, Effect.as(options.ready, true), {
      timeout: options.timeout,
      interval: Duration.millis(100)
    }).pipe(
      // Its own log says why, better than its whole output would.
      Effect.mapError((error) => new Error(`${name}: ${error.reason}:\n${started.tail()}`))
    )
    return started
  })
