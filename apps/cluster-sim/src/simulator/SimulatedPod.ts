/**
 * One pod of the simulator: a real OS process of `apps/miroir` (`@miroir/process-kit`'s `PodProcess`)
 * with the environment the Downward API would give it, on its own loopback address and the ports every pod of a
 * cluster uses, its output in a log file of its own. Started and signalled by the endpoints controller,
 * by its own pid.
 */
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as Pod from "@miroir/process-kit/PodProcess"
import { HTTP_PORT, METRICS_PORT } from "../Cluster.js"

/** What a pod is started with. */
export interface PodSpec {
  /** The bundled pod service (`bundle` of apps/miroir/scripts/bundle.ts: pods start 8× cheaper from one file). */
  readonly bundle: string
  /** `miroir-7d9f8c6b5-x2x4q` (Deployment) or `miroir-0` (StatefulSet). */
  readonly name: string
  /** A distinct loopback address (127.0.n.x). */
  readonly ip: string
  /** Environment beyond the Downward API's (DNS server, interval…). */
  readonly env: Readonly<Record<string, string>>
  /** Where its output goes, one file per pod. */
  readonly logFolder: string
}

/** The port of a pod's admin listener, on its own address (the chart's pods have it on their own loopback). */
export const ADMIN_PORT = 7701

/** A started pod process. */
export type PodProcess = Pod.PodProcess

/** The kit's spec of the pod: its output goes to `<logFolder>/<name>.log` (the folder must exist). */
export const podSpec = (spec: PodSpec): Pod.PodSpec => ({
  program: { bundle: spec.bundle },
  name: spec.name,
  ip: spec.ip,
  httpPort: HTTP_PORT,
  metricsPort: METRICS_PORT,
  adminPort: ADMIN_PORT,
  logFile: join(spec.logFolder, `${spec.name}.log`),
  env: { MIROIR_CLUSTER_DOMAIN: "cluster.local", ...spec.env }
})

/** Starts the pod process without waiting for it (the controller probes it as a kubelet would). */
export const spawn = (spec: PodSpec): PodProcess => {
  mkdirSync(spec.logFolder, { recursive: true })
  return Pod.spawn(podSpec(spec))
}
