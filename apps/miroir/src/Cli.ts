/**
 * The command line of the pod's program, past serving: `node miroir.mjs <command> …` (main.ts serves
 * when there is no argument at all). One command so far, `leave` (LeaveCommand.ts), the chart's preStop
 * hook; `--help` describes it. Parsed by `@effect/cli`: a bad argument fails at once with an error naming
 * it, before anything is asked of the pod.
 *
 * A failure prints one line on stderr and exits 1, as the pod service does; a usage error, @effect/cli's
 * own message (which names the argument) and exit 1.
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { writeSync } from "node:fs"
import { Data, Effect, Layer } from "effect"
import * as LeaveCommand from "./LeaveCommand.js"

/** The program's version, as its package says. */
const VERSION = "0.1.0"

/** Arguments but no command: serving takes none, so they are a mistake to point out, not to ignore. */
class NoCommand extends Data.TaggedError("NoCommand")<{}> {
  override get message(): string {
    return "miroir: expected a command (leave); run without arguments to serve, or with --help"
  }
}

/** `miroir <command>`: the commands as subcommands of the program. */
export const command = Command.make("miroir", {}, () => Effect.fail(new NoCommand())).pipe(
  Command.withDescription(
    "The Miroir pod service. Without arguments it serves (peer discovery, ownership, HTTP API, metrics)."
  ),
  Command.withSubcommands([LeaveCommand.command])
)

/** What @effect/cli needs of the platform: the terminal for its messages, files and paths for its built-ins. */
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

/** Runs the command line `argv` (`process.argv`: node, the script, then the arguments) and exits. */
export const main = (argv: ReadonlyArray<string>): void =>
  Command.run(command, { name: "miroir", version: VERSION })(argv).pipe(
    // @effect/cli has printed a usage error already; anything else is one line, written synchronously:
    // runMain exits right after, and a write to a pipe would be lost.
    Effect.tapError((error) =>
      ValidationError.isValidationError(error) ? Effect.void : Effect.sync(() => writeSync(2, `${error.message}\n`))
    ),
    Effect.provide(platform),
    (program) => NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
  )
