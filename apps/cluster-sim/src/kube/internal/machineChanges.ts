/**
 * What a real node changes on the machine outside its own folder, recorded before it starts and undone
 * when its scope closes: the kernel settings and iptables rules the kubelet changes, its cgroup root, the
 * processes and mounts left behind, and what containerd and libcni write to fixed folders of the machine.
 * The finalizers are added before the node's daemons start, so that they run after those have stopped.
 */
import { existsSync, readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect, type Scope } from "effect"
import * as Host from "./host.js"
import type { NodeLayout } from "./nodeConfig.js"
import { failedAt, type NodeError } from "./nodeError.js"

/** Directories of the machine the runtime and the kubelet write to whatever their configuration says. */
const MACHINE_DIRS = [
  "/run/containerd",
  "/var/lib/cni",
  "/var/log/pods",
  "/var/lib/kubelet",
  "/run/nri",
  "/var/run/nri",
  "/opt/containerd"
]

/** containerd's shim sockets: a hard-coded folder (`defaults.DefaultStateDir`), not the node's state dir. */
const SHIM_SOCKETS = "/run/containerd/s"

/** libcni's result cache (its default folder, which containerd does not let us move). */
const CNI_RESULTS = "/var/lib/cni/results"

/**
 * Records the machine's sysctls, iptables rules, the machine folders and shim sockets that exist, makes the
 * node's cgroup root, and adds the finalizers that put all of it back: the sysctls and iptables last, after
 * the processes left in the node's cgroups and the shims of its containerd are killed (by pid), its mounts
 * unmounted, its cgroups removed, and what it wrote to the machine's folders deleted. `networkName` names
 * the CNI network whose cached results go with the node.
 */
export const undoMachineChangesOnClose = (
  layout: NodeLayout,
  networkName: string
): Effect.Effect<void, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    const { name, folder } = layout
    const sysctls = Host.readSysctls()
    yield* Effect.addFinalizer(() =>
      Host.restoreSysctls(sysctls).pipe(
        Effect.flatMap((restored) =>
          restored.length === 0 ? Effect.void : Effect.logInfo(`node ${name}: sysctls restored: ${restored.join(", ")}`)
        )
      )
    )
    const iptables = yield* Host.snapshotIptables
    yield* Effect.addFinalizer(() =>
      Host.restoreIptables(iptables).pipe(
        Effect.flatMap((removed) =>
          removed.length === 0 ? Effect.void : Effect.logInfo(`node ${name}: iptables removed: ${removed.join("; ")}`)
        )
      )
    )
    const machineDirsBefore = new Set(MACHINE_DIRS.filter((dir) => existsSync(dir)))
    const shimSocketsBefore = new Set(existsSync(SHIM_SOCKETS) ? readdirSync(SHIM_SOCKETS) : [])
    yield* Host.makeCgroupRoot(layout.cgroupRoot).pipe(Effect.mapError(failedAt("cgroup root")))
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // containerd and the kubelet have stopped (their finalizers ran first): whatever is left.
        yield* Host.killCgroup(layout.cgroupRoot)
        const shims = Host.processesWith((argv) =>
          (argv[0] ?? "").endsWith("containerd-shim-runc-v2") && argv.includes(layout.containerdSocket)
        )
        const killed = yield* Host.killAll(shims)
        if (killed > 0) yield* Effect.logInfo(`node ${name}: killed ${killed} shim(s) left`)
        yield* Effect.sleep(Duration.millis(200))
        yield* Host.unmountUnder(folder)
        const left = yield* Host.removeCgroup(layout.cgroupRoot)
        if (left.length > 0) yield* Effect.logWarning(`node ${name}: cgroups not removed: ${left.join(", ")}`)
        if (existsSync(CNI_RESULTS)) {
          for (const file of readdirSync(CNI_RESULTS).filter((f) => f.startsWith(`${networkName}-`))) {
            rmSync(join(CNI_RESULTS, file), { force: true })
          }
        }
        if (existsSync(SHIM_SOCKETS)) {
          for (const socket of readdirSync(SHIM_SOCKETS).filter((s) => !shimSocketsBefore.has(s))) {
            rmSync(join(SHIM_SOCKETS, socket), { force: true })
          }
        }
        for (const dir of MACHINE_DIRS.filter((d) => !machineDirsBefore.has(d) && existsSync(d))) {
          // Made by this node (it was not there before): gone with it, once nothing is mounted below.
          yield* Host.unmountUnder(dir)
          rmSync(dir, { recursive: true, force: true })
        }
      })
    )
  })
