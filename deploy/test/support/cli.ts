/**
 * The tools' runner of the real-Kubernetes harness (`@miroir/cluster-sim/kube/Cli`), as promises for
 * these tests: tests that expect a refusal need the exit code and standard error, not just an error.
 */
import * as Cli from "@miroir/cluster-sim/kube/Cli"
import { Effect } from "effect"

/** Runs `file` with `args` (environment: PATH, HOME and `env` only), at most `timeoutMs`. */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 120_000
): Promise<Cli.CommandResult> => Effect.runPromise(Cli.execute(file, args, env, timeoutMs))

/** The standard output of a command that must succeed; otherwise an error carrying everything it said. */
export const succeeded = (result: Cli.CommandResult): string => {
  if (result.code !== 0) throw new Cli.CliError(result)
  return result.stdout
}
