/**
 * Container probes as the kubelet runs them: `httpGet` (success is a status from 200 to 399) and
 * `tcpSocket` against the pod's address, each attempt bounded by `timeoutSeconds`, every
 * `periodSeconds` after `initialDelaySeconds`, and the result flipping only after `successThreshold`
 * successes or `failureThreshold` failures in a row. `exec` and `grpc` probes cannot run against a
 * process without its image and are reported as errors.
 */
import { connect } from "node:net"
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container"
import type { IIoK8sApiCoreV1Probe as Probe } from "kubernetes-models/v1/Probe"
import { Duration, Effect } from "effect"

/** The probe's timing with the API's defaults filled in. */
export interface Timing {
  readonly initialDelay: Duration.Duration
  readonly period: Duration.Duration
  readonly timeout: Duration.Duration
  readonly successThreshold: number
  readonly failureThreshold: number
}

/** The timing of `probe`, with the API defaults (period 10 s, timeout 1 s, thresholds 1 and 3). */
export const timing = (probe: Probe): Timing => ({
  initialDelay: Duration.seconds(probe.initialDelaySeconds ?? 0),
  period: Duration.seconds(probe.periodSeconds ?? 10),
  timeout: Duration.seconds(probe.timeoutSeconds ?? 1),
  successThreshold: probe.successThreshold ?? 1,
  failureThreshold: probe.failureThreshold ?? 3
})

/** The number of a container port given by number or by name. */
const portNumber = (container: Container, port: number | string): number | undefined => {
  if (typeof port === "number") return port
  if (/^\d+$/.test(port)) return Number(port)
  return container.ports?.find((p) => p.name === port)?.containerPort
}

/** Why a probe cannot be run by this kubelet; undefined when it can. */
export const unsupported = (probe: Probe): string | undefined =>
  probe.exec !== undefined ?
    "exec probes need the container image; the process kubelet runs httpGet and tcpSocket probes"
    : probe.grpc !== undefined ?
    "grpc probes are not supported by the process kubelet"
    : probe.httpGet === undefined && probe.tcpSocket === undefined ?
    "the probe has no handler"
    : probe.httpGet?.scheme === "HTTPS" ?
    "HTTPS probes are not supported by the process kubelet"
    : undefined

/** One attempt of `probe` against a container at `ip`: true when it succeeded. */
export const attempt = (probe: Probe, container: Container, ip: string): Effect.Effect<boolean> => {
  const { timeout } = timing(probe)
  const millis = Duration.toMillis(timeout)
  if (probe.httpGet !== undefined) {
    const get = probe.httpGet
    const port = portNumber(container, get.port)
    if (port === undefined) return Effect.succeed(false)
    const host = get.host !== undefined && get.host !== "" ? get.host : ip
    const headers = Object.fromEntries((get.httpHeaders ?? []).map((header) => [header.name, header.value]))
    return Effect.tryPromise(async (signal) => {
      const response = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${port}${get.path ?? "/"}`, {
        headers: { "user-agent": "kube-probe/1.37", ...headers },
        signal: AbortSignal.any([signal, AbortSignal.timeout(millis)]),
        redirect: "manual"
      })
      await response.body?.cancel()
      return response.status >= 200 && response.status < 400
    }).pipe(Effect.orElseSucceed(() => false))
  }
  if (probe.tcpSocket !== undefined) {
    const port = portNumber(container, probe.tcpSocket.port)
    if (port === undefined) return Effect.succeed(false)
    return Effect.callback<boolean>((resume) => {
      const socket = connect({ host: probe.tcpSocket?.host ?? ip, port, timeout: millis })
      const done = (ok: boolean) => {
        socket.destroy()
        resume(Effect.succeed(ok))
      }
      socket.once("connect", () => done(true))
      socket.once("error", () => done(false))
      socket.once("timeout", () => done(false))
      return Effect.sync(() => socket.destroy())
    })
  }
  return Effect.succeed(false)
}
