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
import { freePort } from "@miroir/process-kit/freePort"
import { findExecutable } from "./findExecutable.js"
import { awaitReady, start, stop } from "./processKitAsPromises.js"

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
  /** Removes every record of each of `names`, in one call. */
  readonly removeNames: (names: ReadonlyArray<string>) => Promise<void>
  /**
   * Sets the type of the local zone `cluster.local.`: `always_deny` drops every query unanswered (an outage
   * as the clients see it, while unbound still takes changes), `static` answers again.
   */
  readonly setClusterZone: (type: "static" | "always_deny") => Promise<void>
  /** Stops the server (by its pid) and removes its files. */
  readonly stop: () => Promise<void>
}

/** How to start unbound. */
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
      "  username: \"\"",
      "  chroot: \"\"",
      `  directory: "${directory}"`,
      "  pidfile: \"\"",
      "  logfile: \"\"",
      "  use-syslog: no",
      "  verbosity: 0",
      "  num-threads: 1",
      "  access-control: 127.0.0.0/8 allow",
      "  module-config: \"iterator\"",
      "  local-zone: \".\" refuse",
      "  local-zone: \"cluster.local.\" static",
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
  await awaitReady(
    daemon,
    `unbound on ${server} to answer`,
    10_000,
    () =>
      new Promise((resolve) =>
        probe.resolveSrv(
          "_probe._tcp.cluster.local.",
          (error) => resolve(error === null || error.code === "ENOTFOUND" || error.code === "ENODATA")
        )
      )
  )
  /** Runs unbound-control; `lines`, if given, go to its standard input (the `local_datas` forms). */
  const unboundControl = (args: ReadonlyArray<string>, lines?: ReadonlyArray<string>) =>
    new Promise<void>((resolve, reject) => {
      const child = execFile(control, ["-c", config, ...args], (error, stdout) => {
        if (error !== null) reject(error)
        else if (!stdout.includes("ok") && !/^(added|removed) \d+ datas/m.test(stdout)) {
          reject(new Error(`unbound-control ${args.join(" ")}: ${stdout}`))
        } else resolve()
      })
      child.stdin?.end(lines === undefined ? "" : `${lines.join("\n")}\n`)
    })
  return {
    server,
    port,
    addRecords: (records) => records.length === 0 ? Promise.resolve() : unboundControl(["local_datas"], records),
    removeName: (name) => unboundControl(["local_data_remove", name]),
    removeNames: (names) => names.length === 0 ? Promise.resolve() : unboundControl(["local_datas_remove"], names),
    setClusterZone: (type) => unboundControl(["local_zone", "cluster.local.", type]),
    stop: async () => {
      await stop(daemon)
      await rm(directory, { recursive: true, force: true })
    }
  }
}
