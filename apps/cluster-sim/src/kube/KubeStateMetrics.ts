/**
 * kube-state-metrics, the real one (k8s.io/kube-state-metrics/v2), reading the API server through the
 * admin kubeconfig and serving the Deployments' and Pods' metrics on loopback, for Prometheus to
 * compare with what the pods report (`kube_deployment_status_replicas_ready`).
 */
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "./Components.js"
import { daemon } from "./internal/daemon.js"

/** A running kube-state-metrics. */
export interface KubeStateMetrics {
  /** `127.0.0.1:<port>`, the scrape target of its `/metrics`. */
  readonly target: string
}

/** Starts kube-state-metrics for Deployments and Pods; waits until it serves metrics. */
export const make = (folder: string, kubeconfig: string): Effect.Effect<KubeStateMetrics, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const [port, telemetryPort] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    yield* daemon("kube-state-metrics", Components.path("kube-state-metrics"), [
      `--kubeconfig=${kubeconfig}`,
      "--host=127.0.0.1",
      `--port=${port}`,
      "--telemetry-host=127.0.0.1",
      `--telemetry-port=${telemetryPort}`,
      "--resources=deployments,pods"
    ], {
      logFolder: join(folder, "logs"),
      timeout: Duration.seconds(60),
      ready: Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`)
        if (!response.ok) throw new Error(`kube-state-metrics /metrics ${response.status}`)
      })
    })
    return { target: `127.0.0.1:${port}` }
  })
