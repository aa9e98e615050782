/**
 * A node failure's second half: the cgroup v1 freezer of the node's cgroup root, which freezes every
 * process of its pods at once (they hold their sockets but answer nothing, as on a machine that hangs).
 */
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { NodeError } from "./nodeError.js"

/** Freezes and thaws the processes of a node's cgroup root. */
export interface Freezer {
  /** Writes `FROZEN`: every process of the node's pods stops where it is. */
  readonly freeze: Effect.Effect<void, NodeError>
  /** Never fails: a thaw that cannot be done is logged (it runs in the clean-up too). */
  readonly thaw: Effect.Effect<void>
}

/**
 * The freezer of `cgroupRoot` (node `name`'s, for the log); adds the finalizer that thaws it first when the
 * scope closes (a frozen process cannot die, and so neither can its cgroup be removed).
 */
export const cgroupFreezer = (cgroupRoot: string, name: string): Effect.Effect<Freezer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const freezerState = join("/sys/fs/cgroup/freezer", cgroupRoot, "freezer.state")
    const setFreezer = (state: "FROZEN" | "THAWED") =>
      Effect.try({
        try: () => writeFileSync(freezerState, state),
        catch: (e) => new NodeError({ step: `freezer (${freezerState})`, reason: (e as Error).message })
      })
    const thaw = setFreezer("THAWED").pipe(
      Effect.catch((error) => Effect.logWarning(`node ${name}: ${error.message}`))
    )
    yield* Effect.addFinalizer(() => existsSync(freezerState) ? thaw : Effect.void)
    return { freeze: setFreezer("FROZEN"), thaw }
  })
