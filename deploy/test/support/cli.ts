/**
 * Runs a command-line tool (helm, kubectl) to completion and keeps what it said: tests that expect a
 * refusal need the exit code and standard error, not just an exception.
 */
import { execFile } from "node:child_process"

/** How a command ended. */
export interface Outcome {
  /** The command line, for messages. */
  readonly command: string
  /** Exit code (null when a signal ended it). */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `file` with `args`. The environment is only PATH, HOME and `env`: nothing of the caller's
 * (a KUBECONFIG, a HELM_* setting) may change what a test sees.
 */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 120_000
): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(file, [...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ command: `${file.split("/").at(-1)} ${args.join(" ")}`, code, stdout, stderr })
    })
  })

/** The standard output of a command that must succeed; otherwise an error carrying everything it said. */
export const succeeded = (outcome: Outcome): string => {
  if (outcome.code !== 0) {
    throw new Error(`${outcome.command} exited ${outcome.code}:\n${outcome.stderr}\n${outcome.stdout}`.trim())
  }
  return outcome.stdout
}
