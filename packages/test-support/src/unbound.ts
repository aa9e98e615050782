/**
 * A real DNS server for tests: unbound (Debian package `unbound`) on 127.0.0.1 and a free port,
 * authoritative for `cluster.local.` from `local-data`, refusing everything else (so it never
 * recurses to the Internet), with records changed live through `unbound-control`.
 */
import { execFile } from "node:child_process"
import { Resolver } from "node:dns"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { findExecutable, freePort, start, stop, waitUntil } from "./processes.js"

const run = promisify(execFile)
const INSTALL_HINT = "install the Debian package unbound (apt-get install -y unbound); .ci/run does"

/** A running unbound. */
export interface Unbound {
  /** `127.0.0.1:<port>`, for `MIROIR_DNS_SERVERS` or `Resolver#setServers`. */
  readonly server: string
  readonly port: number
  /** Adds resource records, in zone-file syntax (`name ttl IN type data`). */
  readonly addRecords: (records: ReadonlyArray<string>) => Promise<void>
  /** Removes every record of `name`. */
  readonly removeName: (name: string) => Promise<void>
  /** Freezes the server (SIGSTOP to its pid): queries go unanswered, as in an outage. */
  readonly pause: () => void
  /** Ends {@link pause} (SIGCONT). */
  readonly resume: () => void
  /** Stops the server (by its pid) and removes its files. */
  readonly stop: () => Promise<void>
}

export interface UnboundOptions {
  /** Records served from the start. */
  readonly records?: ReadonlyArray<string>
  /** Whether to answer over TCP (default true): without it, truncated UDP answers cannot be retried. */
  readonly tcp?: boolean
}

/** Starts unbound and waits until it answers. */
export const startUnbound = async (options: UnboundOptions = {}): Promise<Unbound> => {
  const unbound = findExecutable("unbound", INSTALL_HINT)
  const control = findExecutable("unbound-control", INSTALL_HINT)
  const directory = await mkdtemp(join(tmpdir(), "miroir-unbound-"))
  const [port, controlPort] = [await freePort(), await freePort()]
  const config = join(directory, "unbound.conf")
  const recordsFile = join(directory, "records.conf")
  await writeFile(recordsFile, (options.records ?? []).map((rr) => `  local-data: "${rr}"\n`).join(""))
  await writeFile(
    config,
    [
      "server:",
      "  interface: 127.0.0.1",
      `  port: ${port}`,
      "  do-ip6: no",
      `  do-tcp: ${options.tcp === false ? "no" : "yes"}`,
      "  do-daemonize: no",
      '  username: ""',
      '  chroot: ""',
      `  directory: "${directory}"`,
      '  pidfile: ""',
      '  logfile: ""',
      "  use-syslog: no",
      "  verbosity: 0",
      "  num-threads: 1",
      "  access-control: 127.0.0.0/8 allow",
      '  module-config: "iterator"',
      '  local-zone: "." refuse',
      '  local-zone: "cluster.local." static',
      `  include: "${recordsFile}"`,
      "remote-control:",
      "  control-enable: yes",
      "  control-interface: 127.0.0.1",
      `  control-port: ${controlPort}`,
      "  control-use-cert: no",
      ""
    ].join("\n")
  )
  const daemon = start(unbound, ["-d", "-c", config])
  const server = `127.0.0.1:${port}`
  const probe = new Resolver({ timeout: 200, tries: 1 })
  probe.setServers([server])
  try {
    await waitUntil(`unbound on ${server} to answer`, 10_000, () =>
      new Promise((resolve) =>
        probe.resolveSrv("_probe._tcp.cluster.local.", (error) =>
          resolve(error === null || error.code === "ENOTFOUND" || error.code === "ENODATA"))
      ))
  } catch (error) {
    await stop(daemon)
    throw new Error(`${String(error)}\nunbound said:\n${daemon.output()}`)
  }
  const unboundControl = async (...args: ReadonlyArray<string>) => {
    const { stdout } = await run(control, ["-c", config, ...args])
    if (!stdout.includes("ok")) throw new Error(`unbound-control ${args.join(" ")}: ${stdout}`)
  }
  return {
    server,
    port,
    addRecords: async (records) => {
      for (const record of records) await unboundControl("local_data", record)
    },
    removeName: (name) => unboundControl("local_data_remove", name),
    pause: () => void (daemon.child.pid !== undefined && process.kill(daemon.child.pid, "SIGSTOP")),
    resume: () => void (daemon.child.pid !== undefined && process.kill(daemon.child.pid, "SIGCONT")),
    stop: async () => {
      if (daemon.child.pid !== undefined && daemon.child.exitCode === null) process.kill(daemon.child.pid, "SIGCONT")
      await stop(daemon)
      await rm(directory, { recursive: true, force: true })
    }
  }
}
