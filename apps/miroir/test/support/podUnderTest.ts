/**
 * The pod under test: the pod service as a real OS process (`node --import tsx src/main.ts`, or its
 * bundle), started by the process kit's `PodProcess` on its own loopback address with free ports and a
 * Downward-API-style environment, for tests that check the process as operators run it; and what those
 * tests ask of it (its API through the derived client, `miroir leave`).
 */
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as PodProcess from "@miroir/process-kit/PodProcess"
import * as ChildProcess from "@miroir/process-kit/ChildProcess"
import type { Ended, Started } from "@miroir/process-kit/ChildProcess"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, ManagedRuntime } from "effect"
import { bundle } from "../../scripts/bundle.js"
import * as Client from "@miroir/pod-api/Client"

const appFolder = fileURLToPath(new URL("../..", import.meta.url))

/**
 * How long {@link Pod.stop} waits after SIGTERM before it sends SIGKILL. A pod that ends with code 0 and no
 * signal therefore stopped by itself within it: what a test of a graceful stop asserts, rather than a
 * duration a loaded machine can stretch. The pod's own bounds are far shorter (its last OTLP flush 2 s,
 * its leave 3 s), and an unbounded wait (a collector that never answers, with no timeout) never ends.
 */
export const STOP_GRACE = Duration.seconds(10)

/** A running pod process. */
export interface Pod extends PodProcess.PodProcess {
  /** Sends SIGTERM (by pid), SIGKILL after {@link STOP_GRACE}, and resolves with how it ended and how long it took. */
  readonly stop: () => Promise<Ended & { readonly ms: number }>
}

let bundled: Promise<string> | undefined

/**
 * The pod service bundled once per test process (esbuild, as the image ships it): a pod then starts in
 * about a tenth of the CPU it takes through tsx, which matters when a test starts several on two cores.
 */
export const podBundle = (): Promise<string> =>
  bundled ??= bundle(join(mkdtempSync(join(tmpdir(), "miroir-pod-bundle-")), "miroir.mjs"))

/**
 * How the pod service is run: from the sources through tsx, in its folder, or from `bundleFile` (see
 * {@link podBundle}).
 */
const program = (bundleFile?: string): PodProcess.Program =>
  bundleFile === undefined
    ? { args: ["--import", "tsx", "--conditions=@miroir/source", "src/main.ts"], cwd: appFolder }
    : { bundle: bundleFile }

/**
 * Spawns the pod process with `env` (and `NODE_ENV=test`) and nothing else of this process's environment but
 * PATH and HOME: for a pod that must exit, refusing a value of `env`.
 */
export const spawnPod = (env: Record<string, string>, bundleFile?: string): Started =>
  PodProcess.spawnWithEnvironment(program(bundleFile), { NODE_ENV: "test", ...env }).process

/** A TCP port free on every one of `ips`: pods that reach each other by address share one HTTP port. */
export const commonFreePort = async (ips: ReadonlyArray<string>): Promise<number> => {
  const freeOn = (ip: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once("error", () => resolve(false))
      server.listen(port, ip, () => server.close(() => resolve(true)))
    })
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort(ips[0])
    if ((await Promise.all(ips.map((ip) => freeOn(ip, port)))).every(Boolean)) return port
  }
  throw new Error(`no port free on all of ${ips.join(", ")}`)
}

/**
 * Starts a pod at `ip` (127.0.0.x) and waits until it is ready (process-kit's pod kit). `MIROIR_HTTP_PORT`
 * in `env` sets its HTTP port (else a free one); `bundle` starts it from the bundle.
 */
export const startPod = async (ip: string, env: Record<string, string> = {}, bundleFile?: string): Promise<Pod> => {
  const httpPort = env.MIROIR_HTTP_PORT === undefined ? await freePort(ip) : Number(env.MIROIR_HTTP_PORT)
  const metricsPort = await freePort(ip)
  const adminPort = await freePort(ip)
  const pod = await Effect.runPromise(PodProcess.startPod({
    program: program(bundleFile),
    name: `miroir-7d9f8c6b5-${ip.split(".").pop()}x2x4`,
    ip,
    httpPort,
    metricsPort,
    adminPort,
    env: { NODE_ENV: "test", ...env }
  }))
  return {
    ...pod,
    stop: () =>
      Effect.runPromise(
        ChildProcess.stop(pod.process, { grace: STOP_GRACE }).pipe(
          Effect.timed,
          Effect.map(([took, ended]) => ({ ...ended, ms: Duration.toMillis(took) }))
        )
      )
  }
}

/** Waits for a process to end by itself (for processes that should exit, like on bad configuration). */
export const waitForExit = (started: Started, timeoutMs: number): Promise<Ended> =>
  Effect.runPromise(ChildProcess.exitedWithin(started, Duration.millis(timeoutMs)))

/** How a run of `miroir leave` ended. */
export interface LeaveRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** From its start to its exit. */
  readonly ms: number
  /** The pod's own measure from the request to its answer, as the command prints it (`answered after 3.01 s`). */
  readonly answeredMs: number | undefined
}

/**
 * Runs `node <bundle> leave <args>` with `env` (a pod's {@link Pod.env}: an exec in the pod's container
 * inherits the container's environment), as the kubelet runs the chart's preStop hook; resolves when it
 * exits. Stopped by its pid after `timeoutMs`.
 */
export const runLeave = (
  env: Readonly<Record<string, string>>,
  bundleFile: string,
  args: ReadonlyArray<string>,
  timeoutMs = 60_000
): Promise<LeaveRun> => runProgram(env, bundleFile, ["leave", ...args], timeoutMs)

/** Runs `node <bundle> <args>` with `env` and nothing else, to its exit (stopped by its pid after `timeoutMs`). */
export const runProgram = (
  env: Readonly<Record<string, string>>,
  bundleFile: string,
  args: ReadonlyArray<string>,
  timeoutMs = 60_000
): Promise<LeaveRun> =>
  new Promise((resolve) => {
    const started = Date.now()
    execFile(
      process.execPath,
      [bundleFile, ...args],
      { env: { ...env }, timeout: timeoutMs, cwd: appFolder },
      (error, stdout, stderr) => {
        const answered = /answered after (\d+\.\d+) s/.exec(stdout)?.[1]
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          stdout,
          stderr,
          ms: Date.now() - started,
          answeredMs: answered === undefined ? undefined : Number(answered) * 1000
        })
      }
    )
  })

/** The API's client, derived once for every test of the process (over `fetch`). */
const clients = ManagedRuntime.make(Client.layerFetch)

/**
 * Asks the pod at `url` (its {@link Pod.url}) through the API's client: `ask(pod.url, (api) =>
 * api.peers.peers())` resolves with the decoded answer, and rejects on any other.
 */
export const ask = <A, E>(url: string, call: (api: Client.Client) => Effect.Effect<A, E, Client.PodUrl>): Promise<A> =>
  clients.runPromise(Effect.flatMap(Client.PodClient, call).pipe(Client.at(url)))

/** Whether the pod at `url` answers `GET /readyz`. */
export const isReady = (url: string): Promise<boolean> =>
  ask(url, (api) => api.probes.readyz()).then(() => true, () => false)
