/**
 * A real DNS server for the tests: unbound (Debian package `unbound`) on 127.0.0.1 at a free port,
 * answering for `cluster.local.` from `local-data` and refusing every other name, so that nothing is ever
 * asked beyond loopback. Stopped by its own pid when the test's scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createSocket } from "node:dgram"
import { Resolver } from "node:dns/promises"
import { accessSync, constants } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { type AddressInfo, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { Effect, type Scope } from "effect"

/** A running unbound. */
export interface Unbound {
  /** `127.0.0.1:<port>`, as `MIROIR_DNS_SERVERS` takes it. */
  readonly server: string
}

/**
 * Starts unbound serving `records` (zone-file lines, `name ttl IN type data`) and waits until it answers
 * `probeName`; stops it when the scope closes.
 */
export const unbound = (
  records: ReadonlyArray<string>,
  probeName: string
): Effect.Effect<Unbound, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => start(records, probeName),
      catch: (cause) => cause instanceof Error ? cause : new Error(String(cause))
    }),
    (running) => Effect.promise(() => running.stop())
  ).pipe(Effect.map(({ server }) => ({ server })))

const executable = (): string => {
  for (const folder of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"]) {
    try {
      accessSync(join(folder, "unbound"), constants.X_OK)
      return join(folder, "unbound")
    } catch {
      // not in this folder
    }
  }
  throw new Error("unbound is not installed: apt-get install -y unbound (scripts/install-test-deps.sh does)")
}

const start = async (records: ReadonlyArray<string>, probeName: string) => {
  const directory = await mkdtemp(join(tmpdir(), "example-unbound-"))
  const port = await freePort()
  const config = join(directory, "unbound.conf")
  await writeFile(
    config,
    [
      "server:",
      "  interface: 127.0.0.1",
      `  port: ${port}`,
      "  do-ip6: no",
      "  do-daemonize: no",
      "  username: \"\"",
      "  chroot: \"\"",
      `  directory: "${directory}"`,
      "  pidfile: \"\"",
      "  use-syslog: no",
      "  access-control: 127.0.0.0/8 allow",
      // Authoritative for the cluster domain only: no recursion, no root hints, no Internet.
      "  module-config: \"iterator\"",
      "  local-zone: \".\" refuse",
      "  local-zone: \"cluster.local.\" static",
      ...records.map((record) => `  local-data: "${record}"`),
      "remote-control:",
      "  control-enable: no",
      ""
    ].join("\n")
  )
  const child = spawn(executable(), ["-d", "-c", config], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  child.stderr.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async () => {
    await stopChild(child, exited)
    await rm(directory, { recursive: true, force: true })
  }
  const server = `127.0.0.1:${port}`
  try {
    await answers(server, probeName, child, () => stderr)
  } catch (error) {
    await stop()
    throw error
  }
  return { server, stop }
}

/** Waits until `server` answers `name` (it starts in well under a second; 30 s is for a loaded machine). */
const answers = async (server: string, name: string, child: ChildProcess, stderr: () => string) => {
  const resolver = new Resolver({ timeout: 500, tries: 1 })
  resolver.setServers([server])
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`unbound exited (${child.exitCode ?? child.signalCode}): ${stderr()}`)
    }
    try {
      await resolver.resolveSrv(name)
      return
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`unbound on ${server} did not answer ${name}: ${error}`)
      await sleep(100)
    }
  }
}

/** SIGTERM to the child's own pid, SIGKILL if it is still there 10 s later. */
const stopChild = async (child: ChildProcess, exited: Promise<void>) => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  process.kill(child.pid, "SIGTERM")
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 10_000)
  await exited
  clearTimeout(timer)
}

/** A loopback port free for both UDP and TCP (unbound listens on both). */
const freePort = async (): Promise<number> => {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        server.close(() => resolve(port))
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4")
      socket.once("error", () => (socket.close(), resolve(false)))
      socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)))
    })
    if (udpFree) return port
  }
}
