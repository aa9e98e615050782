/**
 * What is left of pods on a real node: containerd's tasks, the sandboxes' network namespaces, the veths on
 * the node's bridge and host-local's leases. The acceptance checks read it to see that a node tears down
 * what it ran.
 */
import { existsSync, readdirSync } from "node:fs"
import { Effect } from "effect"
import type { Ctr } from "./containerd.js"
import * as Host from "./host.js"

/** What is left of pods on the node, for checks that it is clean. */
export interface Leftovers {
  /** containerd tasks (running sandboxes and containers) in the CRI's namespace. */
  readonly tasks: ReadonlyArray<string>
  /** Network namespaces of sandboxes. */
  readonly netns: ReadonlyArray<string>
  /** Interfaces (the pods' veths) on the node's bridge. */
  readonly bridgePorts: ReadonlyArray<string>
  /** Addresses host-local still holds. */
  readonly leases: ReadonlyArray<string>
}

/**
 * Reads the leftovers of a node: its tasks through `ctr`, the interfaces on `bridge`, and the entries of
 * `netnsFolder` and of host-local's `leasesFolder`.
 */
export const readLeftovers = (
  ctr: Ctr,
  bridge: string,
  netnsFolder: string,
  leasesFolder: string
): Effect.Effect<Leftovers, Host.HostCommandError> =>
  Effect.gen(function*() {
    const tasks = (yield* ctr(["tasks", "list", "--quiet"])).split("\n").filter((l) => l.trim() !== "")
    const ports = (yield* Host.run("ip", ["-o", "link", "show", "master", bridge])).split("\n").filter((l) =>
      l.trim() !== ""
    )
    const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])
    return {
      tasks,
      netns: list(netnsFolder),
      bridgePorts: ports.map((line) => line.split(": ")[1]?.split("@")[0] ?? line),
      leases: list(leasesFolder).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
    }
  })
