/**
 * A real node's containerd: its configuration written to the node's folder, the daemon started in the
 * scope, and `ctr` against its socket in the CRI's namespace (`k8s.io`), through which the harness imports
 * images, kills a crashed container's task and lists what is left.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "../Components.js"
import { daemon, type Daemon } from "./daemon.js"
import * as Host from "./host.js"
import { containerdConfig, type NodeLayout } from "./nodeConfig.js"
import { failedAt, type NodeError } from "./nodeError.js"

/** Runs `ctr` against the node's containerd, in the CRI's namespace (`k8s.io`); returns its output. */
export type Ctr = (args: ReadonlyArray<string>) => Effect.Effect<string, Host.HostCommandError>

/** A started containerd and the `ctr` that reaches it. */
export interface Containerd {
  readonly daemon: Daemon
  readonly ctr: Ctr
}

/** Writes containerd's configuration for `layout` and starts it; ready once `ctr version` answers. */
export const startContainerd = (
  layout: NodeLayout,
  logFolder: string,
  env: NodeJS.ProcessEnv
): Effect.Effect<Containerd, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    const bin = Components.binFolder()
    const configFile = join(layout.folder, "containerd.toml")
    writeFileSync(configFile, containerdConfig(layout))
    const ctrArgs = ["--address", layout.containerdSocket, "--namespace", "k8s.io"]
    const ctr: Ctr = (args) => Host.run(join(bin, "ctr"), [...ctrArgs, ...args], { env, timeout: Duration.minutes(2) })
    const started = yield* daemon("containerd", join(bin, "containerd"), ["--config", configFile], {
      logFolder,
      env,
      timeout: Duration.seconds(60),
      ready: ctr(["version"])
    }).pipe(Effect.mapError(failedAt("containerd")))
    return { daemon: started, ctr }
  })
