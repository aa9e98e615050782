/**
 * The benchmarks' command line (`pnpm bench [--quick]`, `src/rolloutOnly.ts [--quick]`,
 * `src/kubeRolloutOnly.ts [--quick]`), with
 * `effect/cli`: `--quick` for shorter runs, `--help`. The program runs under NodeRuntime.runMain, so
 * SIGINT or SIGTERM interrupts it and the simulated clusters' scopes close and stop their pods.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Option } from "effect"
import { CliError, CliOutput, Command, Flag } from "effect/cli"

/** `--quick`: fewer trials and shorter windows, for a run in minutes. */
const quick = Flag.Boolean("quick").pipe(
  // A boolean flag without a default is required.
  Flag.withDefault(false),
  Flag.withDescription(
    "fewer trials and shorter windows (about 1.5 minutes for pnpm bench instead of 5, plus 2 instead of 4 on real Kubernetes)"
  )
)

/** A command line the flags refuse is said alone (`Unrecognized flag: --bogus …`), not after the whole help. */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(event.errors.map((error) => error.message).join("\n"))
      : CliOutput.defaultPresenter.present(event)
}

/** Whether a failure is the command line's, which the presenter has said already. */
const isCliFailure = <E>(cause: Cause.Cause<E>) => Option.exists(Cause.findErrorOption(cause), CliError.isCliError)

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
  const cli = Command.runWith(command, { version: "0.0.0" })
  // `pnpm bench -- --quick` hands the `--` on; it is pnpm's separator, not ours.
  cli(process.argv.slice(2).filter((arg) => arg !== "--")).pipe(
    Effect.tapCause((cause) =>
      Cause.hasInterruptsOnly(cause) || isCliFailure(cause) ? Effect.void : Console.error(Cause.pretty(cause))
    ),
    Effect.provide([CliOutput.layerPresenter(presenter), NodeServices.layer]),
    (main) => NodeRuntime.runMain(main, { disableErrorReporting: true })
  )
}
