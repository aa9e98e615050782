/**
 * One pod: a real OS process of `apps/miroir` with the environment the Downward API would give it,
 * on its own loopback address. Started and signalled by the endpoints controller, by its own pid.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdirSync } from "node:fs"
import { join } from "node:path"

/** What a pod is started with. */
export interface PodSpec {
  /** The bundled pod service (`bundle` of apps/miroir/scripts/bundle.ts: pods start 8× cheaper from one file). */
  readonly bundle: string
  /** `miroir-7d9f8c6b5-x2x4q` (Deployment) or `miroir-0` (StatefulSet). */
  readonly name: string
  /** A distinct loopback address (127.0.n.x). */
  readonly ip: string
  /** StatefulSet pods have a hostname (their name), which DNS publishes instead of the dashed IP. */
  readonly hostname?: string | undefined
  /** Environment beyond the Downward API's (DNS server, interval…). */
  readonly env: Readonly<Record<string, string>>
  /** Where its output goes, one file per pod. */
  readonly logFolder: string
}

/** The port of a pod's HTTP API, on its own address (as in a cluster, every pod uses the same). */
export const HTTP_PORT = 7700
/** The port of a pod's /metrics, on its own address. */
export const METRICS_PORT = 9090

/** A started pod process. */
export interface PodProcess {
  readonly spec: PodSpec
  readonly child: ChildProcess
  readonly url: string
  readonly metricsUrl: string
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>
}

/** Starts the pod process; its output goes to `<logFolder>/<name>.log`. */
export const startPod = (spec: PodSpec): PodProcess => {
  mkdirSync(spec.logFolder, { recursive: true })
  const log = createWriteStream(join(spec.logFolder, `${spec.name}.log`))
  const child = spawn(process.execPath, [spec.bundle], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      POD_NAME: spec.name,
      POD_NAMESPACE: "default",
      POD_IP: spec.ip,
      MIROIR_HTTP_HOST: spec.ip,
      MIROIR_HTTP_PORT: String(HTTP_PORT),
      MIROIR_METRICS_PORT: String(METRICS_PORT),
      MIROIR_CLUSTER_DOMAIN: "cluster.local",
      ...spec.env
    }
  })
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      log.end()
      resolve(code)
    }))
  return {
    spec,
    child,
    url: `http://${spec.ip}:${HTTP_PORT}`,
    metricsUrl: `http://${spec.ip}:${METRICS_PORT}/metrics`,
    exited
  }
}

/** Sends `signal` to the pod's own pid, if it still runs. */
export const signalPod = (pod: PodProcess, signal: "SIGTERM" | "SIGKILL"): void => {
  if (pod.child.pid !== undefined && pod.child.exitCode === null && pod.child.signalCode === null) {
    process.kill(pod.child.pid, signal)
  }
}
