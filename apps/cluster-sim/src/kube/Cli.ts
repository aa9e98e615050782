/**
 * Runs a command-line tool of the real components (helm, kubectl, promtool) to completion and keeps
 * what it said. The harness wants the output of a command that must succeed ({@link run}); the
 * packaging tests that expect a refusal want the exit code and standard error ({@link execute}).
 */
import { execFile } from "node:child_process"
import { Effect } from "effect"

/** How a command ended. */
export interface CommandResult {
  /** The command line, for messages. */
  readonly command: string
  /** Exit code (null when a signal ended it). */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A tool that exited with an error; carries what it printed. */
export class CliError extends Error {
  constructor(readonly result: CommandResult) {
    super(`${result.command} exited ${result.code}:\n${result.stderr}\n${result.stdout}`.trim())
  }
}

/**
 * Runs `file` with `args`, at most `timeoutMs`. The environment is only PATH, HOME and `env`: nothing
 * of the caller's (a KUBECONFIG, a HELM_* setting) may change what the tool does. Interrupting the
 * effect stops the tool by its pid. Never fails: how the tool ended is the {@link CommandResult}.
 */
export const execute = (
  file: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 120_000
): Effect.Effect<CommandResult> =>
  Effect.callback<CommandResult>((resume) => {
    const child = execFile(file, [...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resume(Effect.succeed({ command: `${file.split("/").at(-1)} ${args.join(" ")}`, code, stdout, stderr }))
    })
    return Effect.sync(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGTERM")
    })
  })

/** The standard output of a command that must succeed; a {@link CliError} with everything it said otherwise. */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<string, CliError> =>
  Effect.flatMap(
    execute(file, args, env),
    (ended) => ended.code === 0 ? Effect.succeed(ended.stdout) : Effect.fail(new CliError(ended))
  )
