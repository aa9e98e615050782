/** Helpers for tests that run real servers: free loopback ports, waiting, and stopping by process id. */
import { type ChildProcess, spawn } from "node:child_process"
import { createSocket } from "node:dgram"
import { accessSync, constants } from "node:fs"
import { createServer } from "node:net"

/** A port free on `host` (a loopback address) for both TCP and UDP (DNS serves both on one port). */
export const freePort = async (host = "127.0.0.1"): Promise<number> => {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once("error", reject)
      server.listen(0, host, () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket("udp4")
      socket.once("error", () => resolve(false))
      socket.bind(port, host, () => socket.close(() => resolve(true)))
    })
    if (udpFree) return port
  }
  throw new Error(`no port free for both TCP and UDP on ${host}`)
}

/** The path of an executable, looked up in PATH and the sbin folders (Debian puts servers there). */
export const findExecutable = (name: string, installHint: string): string => {
  const folders = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"]
  for (const folder of folders.filter((f) => f.length > 0)) {
    try {
      accessSync(`${folder}/${name}`, constants.X_OK)
      return `${folder}/${name}`
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${name} is not installed: ${installHint}`)
}

/** Polls `probe` every 50 ms until it resolves true, for at most `timeoutMs`. */
export const waitUntil = async (what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** A child process started by a test, with its output kept for error messages. */
export interface Started {
  readonly child: ChildProcess
  readonly output: () => string
}

/** Starts `command` with `args` (and optionally its own environment and folder); its output is collected. */
export const start = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}
): Started => {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options })
  let output = ""
  child.stdout?.on("data", (chunk) => (output += String(chunk)))
  child.stderr?.on("data", (chunk) => (output += String(chunk)))
  return { child, output: () => output }
}

/** How a process ended. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Resolves when the process has exited (at once if it already has). */
export const exited = ({ child }: Started): Promise<Ended> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))

/**
 * Stops a process this test started, by its own pid: `signal` (SIGTERM), then SIGKILL after `graceMs`.
 * Returns how it ended.
 */
export const stop = async (started: Started, graceMs = 5_000, signal: NodeJS.Signals = "SIGTERM"): Promise<Ended> => {
  const { child } = started
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return exited(started)
  const ended = exited(started)
  process.kill(child.pid, signal)
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL")
  }, graceMs)
  const result = await ended
  clearTimeout(timer)
  return result
}

/**
 * Waits until a process this test started answers `probe`, for at most `timeoutMs`, and fails at once
 * if it exits first. On failure the process is stopped and the error carries what it printed.
 */
export const awaitReady = async (
  started: Started,
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>
): Promise<void> => {
  try {
    await Promise.race([
      waitUntil(what, timeoutMs, probe),
      exited(started).then(({ code, signal }) => {
        throw new Error(`the process exited (code ${code}, signal ${signal}) before ${what}`)
      })
    ])
  } catch (error) {
    await stop(started)
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nits output:\n${started.output()}`)
  }
}
