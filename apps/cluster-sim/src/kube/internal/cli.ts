/** Runs a command-line tool of the real components (helm, kubectl) to completion, as an Effect. */
import { execFile } from "node:child_process"
import { Effect } from "effect"

/** A tool that exited with an error; carries what it printed. */
export class CliError extends Error {
  constructor(readonly command: string, readonly stderr: string) {
    super(`${command} failed: ${stderr.trim().split("\n").slice(-15).join("\n")}`)
  }
}

/** Runs `file` with `args` and `env` (added to PATH and HOME); returns its standard output. */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  input?: string
): Effect.Effect<string, CliError> =>
  Effect.async<string, CliError>((resume) => {
    const child = execFile(file, [...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      maxBuffer: 64 * 1024 * 1024
    }, (error, stdout, stderr) => {
      if (error === null) resume(Effect.succeed(stdout))
      else resume(Effect.fail(new CliError(`${file.split("/").at(-1)} ${args.join(" ")}`, `${stderr}\n${error.message}`)))
    })
    if (input !== undefined) child.stdin?.end(input)
    return Effect.sync(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGTERM")
    })
  })
