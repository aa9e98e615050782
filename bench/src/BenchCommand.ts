/**
 * The benchmarks' command line (`pnpm bench [--quick]`, `src/rolloutOnly.ts [--quick]`,
 * `src/kubeRolloutOnly.ts [--quick]`), with
 * `@effect/cli`: `--quick` for shorter runs, `--help`. The program runs under NodeRuntime.runMain, so
 * SIGINT or SIGTERM interrupts it and the simulated clusters' scopes close and stop their pods.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect } from "effect"

/** `--quick`: fewer trials and shorter windows, for a run in minutes. */
const quick = Options.boolean("quick").pipe(
  Options.withDescription(
    "fewer trials and shorter windows (about 1.5 minutes for pnpm bench instead of 5, plus 2 instead of 4 on real Kubernetes)"
  )
)

/**
 * Runs `program` as the command `name` with the process's arguments; a failure prints its cause on
 * stderr and exits 1.
 */
export const runCommand = <E>(
  name: string,
  description: string,
  program: (options: { readonly quick: boolean }) => Effect.Effect<void, E>
): void => {
  const command = Command.make(name, { quick }, program).pipe(Command.withDescription(description))
  const cli = Command.run(command, { name, version: "0.0.0" })
  // `pnpm bench -- --quick` hands the `--` on; it is pnpm's separator, not ours.
  cli(process.argv.filter((arg, i) => i < 2 || arg !== "--")).pipe(
    Effect.tapErrorCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.sync(() => console.error(Cause.pretty(cause)))
    ),
    Effect.provide(NodeContext.layer),
    (main) => NodeRuntime.runMain(main, { disableErrorReporting: true, disablePrettyLogger: true })
  )
}
