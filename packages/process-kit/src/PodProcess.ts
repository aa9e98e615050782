/**
 * A Miroir pod service as a real OS process, the one way the tests, the simulator and the benchmarks
 * start one: on its own loopback address, with the environment the Downward API would give it, from
 * the esbuild bundle (as the image runs it) or from the sources through tsx; awaited until it answers
 * its readiness probe, stopped by its own pid.
 */
import { Duration, Effect, type Scope } from "effect"
import { awaitReady, type NotReady, start, type Started, stop } from "./ChildProcess.js"

/** How the pod service is run: `node <bundle>`, or `node <args>` in `cwd` (the sources through tsx). */
export type Program =
  | { readonly bundle: string }
  | { readonly args: ReadonlyArray<string>; readonly cwd: string }

/** What a pod is started with. */
export interface PodSpec {
  readonly program: Program
  /** `POD_NAME`: `miroir-7d9f8c6b5-x2x4q` (Deployment) or `miroir-0` (StatefulSet). */
  readonly name: string
  /** `POD_NAMESPACE`, `default` unless given. */
  readonly namespace?: string | undefined
  /** `POD_IP`, where it listens: a loopback address of its own (127.x.y.z). */
  readonly ip: string
  readonly httpPort: number
  readonly metricsPort: number
  /**
   * Port of its admin listener, on its own address (`MIROIR_ADMIN_HOST` is `ip`): the stand-in for the pod's
   * own loopback, so that pods on one machine do not all want 127.0.0.1:7701.
   */
  readonly adminPort: number
  /** Further environment (DNS servers, intervals…); it may override any of the above. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Where its output goes; kept in memory when absent. */
  readonly logFile?: string | undefined
  /** The node binary, this process's by default (the image's Node release for the packaging tests). */
  readonly node?: string | undefined
}

/** A started pod. */
export interface PodProcess {
  readonly process: Started
  readonly ip: string
  /** `http://<ip>:<port>` of its HTTP API. */
  readonly url: string
  /** `http://<ip>:<port>/metrics`. */
  readonly metricsUrl: string
  /** `http://<ip>:<port>` of its admin listener (the leave). */
  readonly adminUrl: string
  /** Its whole environment, as an exec in its container would inherit it (`miroir leave`). */
  readonly env: Readonly<Record<string, string>>
}

/**
 * The pod's environment of its own: the Downward API's values, its listen addresses and ports, then
 * `spec.env` ({@link spawnWithEnvironment} adds this process's PATH and HOME, and nothing else of it).
 */
export const environment = (spec: PodSpec): Record<string, string> => ({
  POD_NAME: spec.name,
  POD_NAMESPACE: spec.namespace ?? "default",
  POD_IP: spec.ip,
  MIROIR_HTTP_HOST: spec.ip,
  MIROIR_HTTP_PORT: String(spec.httpPort),
  MIROIR_METRICS_PORT: String(spec.metricsPort),
  MIROIR_ADMIN_HOST: spec.ip,
  MIROIR_ADMIN_PORT: String(spec.adminPort),
  ...spec.env
})

/** How a pod's program is run, beyond its environment. */
export interface RunOptions {
  /** Where its output goes; kept in memory when absent. */
  readonly logFile?: string | undefined
  /** The node binary, this process's by default (the image's Node release for the packaging tests). */
  readonly node?: string | undefined
}

/**
 * Starts the pod process with `env` as its whole environment (plus this process's PATH and HOME, unless
 * `env` sets them), without waiting for it: for an environment made elsewhere — the chart's rendered one,
 * or one with a value the pod must refuse. Its addresses are read from `env`, with the pod service's
 * defaults (its HTTP API on 0.0.0.0:7700 is reached at 127.0.0.1, /metrics on 9090, the admin listener
 * on 127.0.0.1:7701). {@link spawn} is this with a {@link PodSpec}'s environment.
 */
export const spawnWithEnvironment = (
  program: Program,
  environment: Readonly<Record<string, string>>,
  options: RunOptions = {}
): PodProcess => {
  const env: Readonly<Record<string, string>> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    ...environment
  }
  const node = options.node ?? process.execPath
  const started = "bundle" in program
    ? start(node, [program.bundle], { env, logFile: options.logFile })
    : start(node, program.args, { env, cwd: program.cwd, logFile: options.logFile })
  const httpHost = env.MIROIR_HTTP_HOST === undefined || env.MIROIR_HTTP_HOST === "0.0.0.0"
    ? "127.0.0.1"
    : env.MIROIR_HTTP_HOST
  return {
    process: started,
    ip: env.POD_IP ?? httpHost,
    url: `http://${httpHost}:${env.MIROIR_HTTP_PORT ?? "7700"}`,
    metricsUrl: `http://${httpHost}:${env.MIROIR_METRICS_PORT ?? "9090"}/metrics`,
    adminUrl: `http://${env.MIROIR_ADMIN_HOST ?? "127.0.0.1"}:${env.MIROIR_ADMIN_PORT ?? "7701"}`,
    env
  }
}

/** Starts the pod process of `spec` without waiting for it. */
export const spawn = (spec: PodSpec): PodProcess => spawnWithEnvironment(spec.program, environment(spec), spec)

/** Whether `url` answers 200 now (a refused connection is a no). */
export const answers = (url: string, timeout: Duration.Input = Duration.seconds(1)): Effect.Effect<boolean> =>
  Effect.tryPromise(async (signal) => {
    const response = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))])
    })
    await response.body?.cancel()
    return response.ok
  }).pipe(Effect.orElseSucceed(() => false))

/** How to await a pod. */
export interface ReadyOptions {
  /** The path that must answer 200: `/readyz` by default (the packaging tests ask `/healthz`). */
  readonly path?: string
  /** 60 s by default: a dozen pods starting at once on two cores take a while. */
  readonly timeout?: Duration.Input
}

/** Waits until a started pod is ready; fails with its output (and stops it) if it exits first or never is. */
export const awaitPod = (pod: PodProcess, options: ReadyOptions = {}): Effect.Effect<PodProcess, NotReady> => {
  const path = options.path ?? "/readyz"
  return Effect.as(
    awaitReady(pod.process, `the pod at ${pod.url} to answer ${path}`, answers(`${pod.url}${path}`), {
      timeout: options.timeout ?? Duration.seconds(60)
    }),
    pod
  )
}

/** Starts the pod and waits until it is ready; fails with its output if it exits first or never is. */
export const startPod = (spec: PodSpec, options: ReadyOptions = {}): Effect.Effect<PodProcess, NotReady> =>
  Effect.suspend(() => awaitPod(spawn(spec), options))

/**
 * {@link startPod} in the scope: closing it stops the pod (SIGTERM, SIGKILL after `grace`). Only the
 * start is the resource's acquisition: the wait runs outside it, where it can be interrupted (and time out).
 */
export const scopedPod = (
  spec: PodSpec,
  options: ReadyOptions & { readonly grace?: Duration.Input } = {}
): Effect.Effect<PodProcess, NotReady, Scope.Scope> =>
  Effect.acquireRelease(Effect.sync(() => spawn(spec)), (pod) => stop(pod.process, options)).pipe(
    Effect.flatMap((pod) => awaitPod(pod, options))
  )
