/**
 * What a real node needs before anything of it starts: root, the components the install script builds, the
 * CNI plugins of Debian's containernetworking-plugins, and the images it imports. Checked first, so that a
 * machine without them fails with what to run instead of half a node.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Components from "../Components.js"
import { failedAt, NodeError } from "./nodeError.js"

/** Debian's containernetworking-plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni"

/**
 * Checks that the node can run here (root, its binaries, the CNI plugins); succeeds with the images it
 * imports (the sandbox and agnhost), which the install script also provides.
 */
export const preflight: Effect.Effect<ReturnType<typeof Components.images>, NodeError> = Effect.gen(function*() {
  if (process.getuid?.() !== 0) return yield* new NodeError({ step: "preflight", reason: "a real node needs root" })
  const missing = Components.missing(["kubelet", "containerd", "ctr", "containerd-shim-runc-v2", "runc"])
  if (missing.length > 0) {
    return yield* new NodeError({
      step: "preflight",
      reason: `${missing.join(", ")} not built in ${Components.binFolder()}: run scripts/install-test-deps.sh`
    })
  }
  const plugins = ["bridge", "host-local", "loopback"].filter((p) => !existsSync(join(CNI_BIN_DIR, p)))
  if (plugins.length > 0) {
    return yield* new NodeError({
      step: "preflight",
      reason: `CNI plugins ${
        plugins.join(", ")
      } missing in ${CNI_BIN_DIR}: run scripts/install-test-deps.sh (Debian's containernetworking-plugins)`
    })
  }
  return yield* Effect.try({ try: () => Components.images(), catch: (e) => failedAt("preflight")(e as Error) })
})
