/**
 * The bundled pod service (apps/miroir/scripts/bundle.ts, what the image runs) started as a real
 * process with a rendered container's environment, on a loopback address of its own, with its DNS
 * pointed at a dead loopback port: whether it starts (and answers /healthz) or exits naming a variable
 * is then the pod service's own verdict on the values the chart rendered. Started by the process kit's
 * `PodProcess`, from the bundle the pod tests build (once per test file).
 */
import { execFile } from "node:child_process"
import * as ChildProcess from "@miroir/process-kit/ChildProcess"
import { freePort } from "@miroir/process-kit/freePort"
import * as PodProcess from "@miroir/process-kit/PodProcess"
import { type Ended, type Started, stop } from "@miroir/test-support/processKitAsPromises"
import { Duration, Effect } from "effect"
import { podBundle } from "../../../apps/miroir/test/support/podUnderTest.js"

/**
 * The environment of a pod at `ip` (127.0.0.x) from `rendered` (the container's plain env values): the
 * Downward API values the kubelet would fill in, the cluster domain, free ports on `ip` instead of
 * 7700/9090/7701 (other tests share this machine), the listen addresses on `ip`, and DNS at a loopback
 * port where nothing answers.
 */
export const podEnvironment = async (
  ip: string,
  rendered: ReadonlyMap<string, string>
): Promise<Record<string, string>> => {
  const [httpPort, metricsPort, adminPort, deadDns] = [
    await freePort(ip),
    await freePort(ip),
    await freePort(ip),
    await freePort("127.0.0.1")
  ]
  return {
    ...Object.fromEntries(rendered),
    POD_NAME: `miroir-7d9f8c6b5-${ip.split(".").pop()}x2x4`,
    POD_NAMESPACE: "search",
    POD_IP: ip,
    MIROIR_HTTP_HOST: ip,
    MIROIR_HTTP_PORT: String(httpPort),
    MIROIR_METRICS_PORT: String(metricsPort),
    // The admin listener on `ip` too, the stand-in for the pod's own loopback: another test's pod may
    // hold 127.0.0.1's default port.
    MIROIR_ADMIN_HOST: ip,
    MIROIR_ADMIN_PORT: String(adminPort),
    MIROIR_DNS_SERVERS: `127.0.0.1:${deadDns}`,
    // What the pod would read from its resolv.conf's search list; this machine's says nothing of it.
    MIROIR_CLUSTER_DOMAIN: "cluster.local"
  }
}

/** Starts `node <bundle>` (this machine's node, or `nodeBinary`) with `env` and only PATH and HOME besides. */
const spawnPod = async (env: Record<string, string>, nodeBinary?: string): Promise<PodProcess.PodProcess> =>
  PodProcess.spawnWithEnvironment({ bundle: await podBundle() }, env, { node: nodeBinary })

/** {@link spawnPod}'s process, not awaited: for a pod that must exit, refusing a value. */
export const spawnBundle = async (env: Record<string, string>, nodeBinary?: string): Promise<Started> =>
  (await spawnPod(env, nodeBinary)).process

/** Starts the pod and waits for /healthz (or fails with its output, and stops it, if it exits first). */
export const startPod = async (env: Record<string, string>, nodeBinary?: string): Promise<PodProcess.PodProcess> =>
  Effect.runPromise(PodProcess.awaitPod(await spawnPod(env, nodeBinary), { path: "/healthz" }))

/** How a command run in the container ended. */
export interface ExecRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly ms: number
}

/**
 * Runs a rendered `exec` command (the preStop hook's) as the container runtime would, with `env` (the
 * container's environment, which an exec inherits) and only PATH and HOME besides; the image's `node`
 * and `/app/miroir.mjs` are this machine's node (or `nodeBinary`) and the bundle. Stopped by its pid
 * after `timeoutMs`.
 */
export const runExec = async (
  command: ReadonlyArray<string>,
  env: Record<string, string>,
  timeoutMs = 60_000,
  nodeBinary = process.execPath
): Promise<ExecRun> => {
  const bundleFile = await podBundle()
  const [executable, ...args] = command
  if (executable !== "node") throw new Error(`the image runs node commands, not ${executable}`)
  const local = args.map((arg) => (arg === "/app/miroir.mjs" ? bundleFile : arg))
  const started = Date.now()
  return new Promise((resolve) =>
    execFile(nodeBinary, local, {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
      timeout: timeoutMs
    }, (error, stdout, stderr) =>
      resolve({
        code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
        stdout,
        stderr,
        ms: Date.now() - started
      }))
  )
}

/** Waits for a process that must exit by itself (a refused configuration), at most `timeoutMs`. */
export const awaitExit = (started: Started, timeoutMs = 30_000): Promise<Ended> =>
  Effect.runPromise(
    ChildProcess.exitedWithin(started, Duration.millis(timeoutMs)).pipe(Effect.ensuring(ChildProcess.stop(started)))
  )

export { stop }

/** Asks a pod through the API's client (the pod tests' helper, one client per test process). */
export { ask } from "../../../apps/miroir/test/support/podUnderTest.js"
