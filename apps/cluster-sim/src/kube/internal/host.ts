/**
 * What a real node changes on the machine, and how the node harness undoes it: commands run as root
 * (ip, iptables, umount), the kernel settings the kubelet and the CNI bridge plugin set, the iptables
 * chains and rules the kubelet adds, mounts under the node's folder, cgroups under the node's cgroup root,
 * and the processes left in them. Everything here acts on what the harness made or recorded: processes
 * are ended by their pid (found through the node's own cgroups or its own containerd socket), never by name.
 */
import { execFile } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Data, Duration, Effect } from "effect"

/** A command of the machine that failed (or could not start). */
export class HostCommandError extends Data.TaggedError("HostCommandError")<{
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Its exit code, or the error's code when it could not run. */
  readonly code: number | string | null
  readonly stderr: string
}> {
  override get message(): string {
    return `${this.command} ${this.args.join(" ")} failed (${this.code}): ${this.stderr.trim()}`
  }
}

/** Runs `command` with `args` and returns its standard output. */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly timeout?: Duration.Input; readonly env?: NodeJS.ProcessEnv } = {}
): Effect.Effect<string, HostCommandError> =>
  Effect.callback<string, HostCommandError>((resume) => {
    const child = execFile(
      command,
      [...args],
      {
        timeout: Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(60))),
        maxBuffer: 64 * 1024 * 1024,
        ...(options.env === undefined ? {} : { env: options.env })
      },
      (error, stdout, stderr) => {
        if (error === null) resume(Effect.succeed(String(stdout)))
        else {
          const code = (error as { code?: number | string }).code ?? null
          resume(Effect.fail(new HostCommandError({ command, args, code, stderr: String(stderr) || error.message })))
        }
      }
    )
    return Effect.sync(() => void child.kill("SIGKILL"))
  })

/** {@link run}, whose failure is only logged: for undoing things, where one failure must not stop the rest. */
export const attempt = (command: string, args: ReadonlyArray<string>): Effect.Effect<void> =>
  run(command, args).pipe(
    Effect.asVoid,
    Effect.catch((error) => Effect.logWarning(`node clean-up: ${error.message}`))
  )

// ---------------------------------------------------------------------------------------------------
// Kernel settings

/**
 * The sysctls a node changes: the kubelet's kernel tunables (`setupKernelTunables` in
 * pkg/kubelet/cm/container_manager_linux.go, set unless `protectKernelDefaults`) and what CNI plugins may
 * switch on.
 */
const SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
  "net/ipv4/ip_forward",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables"
] as const

/** The current values of the sysctls a node changes (the ones this kernel has). */
export const readSysctls = (): ReadonlyMap<string, string> =>
  new Map(
    SYSCTLS.flatMap((key) => {
      try {
        return [[key, readFileSync(join("/proc/sys", key), "utf8").trim()] as const]
      } catch {
        return []
      }
    })
  )

/** Puts back the values `before` had where they changed; says which it restored. */
export const restoreSysctls = (before: ReadonlyMap<string, string>): Effect.Effect<ReadonlyArray<string>> =>
  Effect.sync(() => {
    const restored: Array<string> = []
    for (const [key, value] of before) {
      try {
        const now = readFileSync(join("/proc/sys", key), "utf8").trim()
        if (now !== value) {
          writeFileSync(join("/proc/sys", key), value)
          restored.push(`${key.replaceAll("/", ".")}: ${now} -> ${value}`)
        }
      } catch {
        // gone with its module (net.bridge.*): nothing to restore
      }
    }
    return restored
  })

// ---------------------------------------------------------------------------------------------------
// iptables

const IPTABLES = ["iptables", "ip6tables"] as const
const TABLES = ["filter", "nat", "mangle", "raw"] as const

/** `iptables -S` output, by command and table. */
export type IptablesSnapshot = ReadonlyMap<string, ReadonlyArray<string>>

const rules = (command: string, table: string) =>
  run(command, ["-w", "5", "-t", table, "-S"]).pipe(
    Effect.map((text) => text.split("\n").filter((line) => line.startsWith("-N ") || line.startsWith("-A "))),
    // A table this kernel lacks, or no ip6tables: nothing of it to undo.
    Effect.orElseSucceed((): ReadonlyArray<string> => [])
  )

/** The chains and rules of every table, to remove later what was added since. */
export const snapshotIptables: Effect.Effect<IptablesSnapshot> = Effect.gen(function*() {
  const snapshot = new Map<string, ReadonlyArray<string>>()
  for (const command of IPTABLES) {
    for (const table of TABLES) snapshot.set(`${command} ${table}`, yield* rules(command, table))
  }
  return snapshot
})

/** Splits a line of `iptables -S` into arguments (double quotes group, as iptables prints comments). */
export const iptablesArgs = (line: string): ReadonlyArray<string> => {
  const args: Array<string> = []
  let current = ""
  let quoted = false
  let started = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) current += line[++i]
      else if (c === "\"") quoted = false
      else current += c
    } else if (c === "\"") {
      quoted = true
      started = true
    } else if (c === " ") {
      if (started) args.push(current)
      current = ""
      started = false
    } else {
      current += c
      started = true
    }
  }
  if (started) args.push(current)
  return args
}

/**
 * Removes the rules and chains that are there now and were not in `before`: new rules first (`-D`, last
 * first), then the new chains (flushed, then deleted). Says what it removed.
 */
export const restoreIptables = (before: IptablesSnapshot): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const removed: Array<string> = []
    for (const command of IPTABLES) {
      for (const table of TABLES) {
        const old = new Set(before.get(`${command} ${table}`) ?? [])
        const added = (yield* rules(command, table)).filter((line) => !old.has(line))
        for (const line of [...added].reverse().filter((l) => l.startsWith("-A "))) {
          yield* attempt(command, ["-w", "5", "-t", table, "-D", ...iptablesArgs(line).slice(1)])
          removed.push(`${command} -t ${table} ${line}`)
        }
        const chains = added.filter((l) => l.startsWith("-N ")).map((l) => l.slice(3).trim())
        for (const chain of chains) yield* attempt(command, ["-w", "5", "-t", table, "-F", chain])
        for (const chain of chains) {
          yield* attempt(command, ["-w", "5", "-t", table, "-X", chain])
          removed.push(`${command} -t ${table} -X ${chain}`)
        }
      }
    }
    return removed
  })

// ---------------------------------------------------------------------------------------------------
// Mounts, cgroups, processes

const unescapeMountPath = (path: string) =>
  path.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)))

/** The mount points at `path` or under it, deepest first. */
export const mountsUnder = (path: string): ReadonlyArray<string> => {
  const prefix = path.endsWith("/") ? path : `${path}/`
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined)
    .map(unescapeMountPath)
    .filter((point) => point === path || point.startsWith(prefix))
  return [...new Set(points)].sort((a, b) => b.length - a.length)
}

/** Unmounts everything at `path` or under it (deepest first; lazily when busy); says what it unmounted. */
export const unmountUnder = (path: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const done: Array<string> = []
    // A mount point may be mounted more than once (the kubelet bind-mounts its root dir onto itself).
    for (let round = 0; round < 5; round++) {
      const points = mountsUnder(path)
      if (points.length === 0) break
      for (const point of points) {
        const result = yield* run("umount", [point]).pipe(
          Effect.catch(() => run("umount", ["-l", point])),
          Effect.as(true),
          Effect.catch((error) => Effect.as(Effect.logWarning(`node clean-up: ${error.message}`), false))
        )
        if (result) done.push(point)
      }
    }
    return done
  })

/** The cgroup v1 hierarchies (and the cgroup2 one) mounted under /sys/fs/cgroup. */
export const cgroupHierarchies = (): ReadonlyArray<string> => {
  try {
    return readdirSync("/sys/fs/cgroup")
      .map((name) => join("/sys/fs/cgroup", name))
      .filter((dir) => existsSync(join(dir, "cgroup.procs")))
  } catch {
    return []
  }
}

/**
 * Makes the cgroup `root` (e.g. `/miroir-node-1`) in every hierarchy, as the kubelet requires its
 * `cgroupRoot` to exist; cpuset's needs its parent's cpus and memory nodes before tasks may join it.
 */
export const makeCgroupRoot = (root: string): Effect.Effect<void, HostCommandError> =>
  Effect.forEach(cgroupHierarchies(), (hierarchy) =>
    run("mkdir", ["-p", join(hierarchy, root)]).pipe(
      Effect.andThen(() =>
        Effect.sync(() => {
          for (const file of ["cpuset.cpus", "cpuset.mems"]) {
            const parent = join(hierarchy, file)
            if (existsSync(parent)) writeFileSync(join(hierarchy, root, file), readFileSync(parent, "utf8").trim())
          }
        })
      )
    ), { discard: true })

const cgroupDirs = (dir: string): ReadonlyArray<string> => {
  if (!existsSync(dir)) return []
  const below = readdirSync(dir).flatMap((name) => {
    const child = join(dir, name)
    try {
      return statSync(child).isDirectory() ? cgroupDirs(child) : []
    } catch {
      return []
    }
  })
  return [...below, dir]
}

/** The processes in the cgroup `root` or below it, in any hierarchy. */
export const processesInCgroup = (root: string): ReadonlyArray<number> => {
  const pids = new Set<number>()
  for (const hierarchy of cgroupHierarchies()) {
    for (const dir of cgroupDirs(join(hierarchy, root))) {
      try {
        for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) {
          if (pid.trim() !== "") pids.add(Number(pid))
        }
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids]
}

const kill = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
    return true
  } catch {
    return false
  }
}

/**
 * SIGKILLs the processes left in the cgroup `root` (the node's containers, once its kubelet is gone), by
 * their pids; says how many.
 */
export const killCgroup = (root: string): Effect.Effect<number> =>
  Effect.sync(() => processesInCgroup(root).filter(kill).length)

/** Removes the cgroup `root` and everything below it, in every hierarchy (retried while processes leave). */
export const removeCgroup = (root: string): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    let left: ReadonlyArray<string> = []
    for (let round = 0; round < 20; round++) {
      left = cgroupHierarchies().flatMap((hierarchy) => cgroupDirs(join(hierarchy, root))).filter((dir) => {
        try {
          rmdirSync(dir)
          return false
        } catch {
          return existsSync(dir)
        }
      })
      if (left.length === 0) return []
      yield* Effect.sleep(Duration.millis(100))
    }
    return left
  })

/** The pids of processes whose arguments satisfy `test` (e.g. shims of the node's own containerd socket). */
export const processesWith = (test: (argv: ReadonlyArray<string>) => boolean): ReadonlyArray<number> =>
  readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    if (pid === process.pid) return false
    try {
      return test(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"))
    } catch {
      return false
    }
  })

/** SIGKILLs them; says how many. */
export const killAll = (pids: ReadonlyArray<number>): Effect.Effect<number> =>
  Effect.sync(() => pids.filter(kill).length)
