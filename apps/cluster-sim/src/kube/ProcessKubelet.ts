/**
 * A kubelet for machines without a container runtime: it registers a Node with the real API server,
 * binds the pods nobody has scheduled to it (there is no kube-scheduler here), and runs each pod's
 * container as a real process on its own 127.0.x.y address. Towards the API server it behaves like a
 * kubelet: the environment resolved as the kubelet resolves it (internal/podEnv), the spec's startup,
 * readiness and liveness probes, the pod status (IPs, phase, conditions, container states, restart
 * counts), graceful deletion (the preStop hook — `exec`, `httpGet` or `sleep` —, SIGTERM, SIGKILL after
 * the grace period, then the final delete) and restarts with the kubelet's back-off.
 *
 * What it emulates, and only that:
 * - an image becomes a local program (see {@link Options.images}), for its entrypoint and for the
 *   commands an `exec` hook runs in its container (the image's `node` and files mapped to this machine's:
 *   internal/imageCommand.ts);
 * - the pod network. The API server refuses loopback addresses in EndpointSlices ("may not be in the
 *   loopback range"), and nothing here may talk to any other address, so a pod gets two: its pod IP
 *   in the API (from {@link Options.podNetwork}, the documentation range 198.51.100.0/24, which
 *   exists nowhere and which nothing ever connects to) and its loopback twin with the same last
 *   octet, where its process listens and where probes, tests and Prometheus reach it
 *   ({@link loopbackTwin});
 * - the pod's network namespace and resolv.conf, as four variables the pod service reads: its listen
 *   address (`MIROIR_HTTP_HOST`, the twin where the spec leaves it unset or a wildcard), its own loopback
 *   (`MIROIR_ADMIN_HOST`, the twin where the spec leaves it unset or a loopback address: in a real pod,
 *   127.0.0.1 is the pod's alone, but here every pod shares this machine's, and two pods' admin
 *   listeners on 127.0.0.1:7701 would collide; the twin is just as unreachable from outside this
 *   machine, and an `exec` hook, which inherits the container's environment, finds the listener there),
 *   its DNS server (`MIROIR_DNS_SERVERS`, the cluster DNS) and its cluster domain;
 * - the routes between pods, as a fifth (`MIROIR_PEER_ADDRESS_TWIN`, {@link addressTwinVariable}, unless
 *   the spec sets it): a pod that asks a peer at its pod IP (the ownership audit, the refresh hints) asks
 *   it at that IP's loopback twin instead, as a pod network would have carried it there. So pods reach
 *   each other only on loopback, and nothing connects to 198.51.100.0/24.
 */
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import * as Process from "@miroir/test-support/Process"
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container"
import type { IPod } from "kubernetes-models/v1/Pod"
import type { IIoK8sApiCoreV1Service as KubeService } from "kubernetes-models/v1/Service"
import {
  Deferred,
  Duration,
  Effect,
  FiberMap,
  Option,
  Ref,
  Result,
  Schedule,
  type Scope,
  Semaphore,
  Stream,
  SubscriptionRef
} from "effect"
import type { Service as KubeApi } from "./KubeApi.js"
import * as ImageCommand from "./internal/imageCommand.js"
import { EnvError, resolveEnv } from "./internal/podEnv.js"
import * as PodStatus from "./internal/podStatus.js"
import * as Probe from "./internal/probe.js"

/**
 * How a program stands in for an image: the command that runs it when the container sets none, and the
 * image's files that commands name (a container's `command`/`args`, an `exec` hook's command).
 */
export interface Program {
  /** The executable (for a Node image, this machine's node): what the image's `node` runs. */
  readonly command: string
  /** Its arguments when the container sets no `command`/`args` (the image's entrypoint and cmd). */
  readonly args: ReadonlyArray<string>
  /**
   * Files of the image by their path in it (`/app/miroir.mjs`), and the local files that stand in for
   * them: an argument naming one is given the local file instead.
   */
  readonly files?: Readonly<Record<string, string>>
}

/** How the kubelet runs. */
export interface Options {
  readonly nodeName: string
  /** The image of a container → the program that stands in for it; none: the image cannot be pulled. */
  readonly images: (image: string) => Program | undefined
  /** The cluster DNS (`127.0.0.1:port`), the pods' resolver. */
  readonly dnsServer: string
  readonly clusterDomain: string
  /** The first three octets of the pods' IPs in the API (`198.51.100`): pods get `.10` to `.250`. */
  readonly podNetwork: string
  /** The first three octets of their loopback twins (`127.0.2`), where the processes listen. */
  readonly loopbackNetwork: string
  /** Where each pod's output goes (`<namespace>_<name>.log`). */
  readonly logFolder: string
  /** The first restart delay after a crash; doubles up to 5 minutes as the kubelet's (10 s). */
  readonly restartBackoff: Duration.Duration
}

/** One pod the kubelet runs, as a snapshot. */
export interface KubeletPod {
  readonly uid: string
  readonly namespace: string
  readonly name: string
  /** Its pod IP, as the API server and DNS know it. */
  readonly ip: string
  /** Its loopback twin, where its process listens. */
  readonly listenIp: string
  /** The pid of the container's process while it runs. */
  readonly pid: number | undefined
  readonly ready: boolean
  readonly restarts: number
  readonly terminating: boolean
}

/** One `exec` preStop hook the kubelet ran, as its events would tell (FailedPreStopHook when it failed). */
export interface HookRun {
  /** `namespace/name` of the pod. */
  readonly pod: string
  /** Its exit code; null when it was stopped past its time. */
  readonly exitCode: number | null
  /** From its start to its end. */
  readonly ms: number
  /** What it printed (stdout and stderr). */
  readonly output: string
}

/** The running kubelet. */
export interface ProcessKubelet {
  readonly nodeName: string
  /** The pods it runs, by uid. */
  readonly pods: SubscriptionRef.SubscriptionRef<ReadonlyMap<string, KubeletPod>>
  /** The `exec` preStop hooks it has run, in order: what a test reads to know the hooks worked. */
  readonly hooks: Effect.Effect<ReadonlyArray<HookRun>>
  /** Kills the container of pod `namespace/name` with SIGKILL, as a crash; it restarts per its policy. */
  readonly killContainer: (namespace: string, name: string) => Effect.Effect<void, Error>
}

const HOST_IP = "127.0.0.1"

/** The loopback twin of a pod IP of the kubelet's pod network: same last octet. */
export const loopbackTwin = (
  podIP: string,
  networks: { readonly podNetwork: string; readonly loopbackNetwork: string }
): string =>
  podIP.startsWith(`${networks.podNetwork}.`)
    ? `${networks.loopbackNetwork}.${podIP.slice(networks.podNetwork.length + 1)}`
    : podIP

/**
 * The value of `MIROIR_PEER_ADDRESS_TWIN` that routes the pod network to the loopback twins
 * (`198.51.100.0/24=127.0.2.0/24`): the pod service reaches a peer at the address {@link loopbackTwin}
 * gives, the same last octet.
 */
export const addressTwinVariable = (
  networks: { readonly podNetwork: string; readonly loopbackNetwork: string }
): string => `${networks.podNetwork}.0/24=${networks.loopbackNetwork}.0/24`

const MAX_BACKOFF = Duration.minutes(5)

/** The Node object of the kubelet, with its status. */
const nodeObject = (name: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name,
    labels: {
      "kubernetes.io/hostname": name,
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": "amd64",
      "topology.kubernetes.io/zone": "local"
    }
  }
})

const nodeStatus = () => {
  const at = PodStatus.now()
  const capacity = { cpu: "2", memory: "24Gi", pods: "240", "ephemeral-storage": "50Gi" }
  return {
    status: {
      capacity,
      allocatable: capacity,
      addresses: [{ type: "InternalIP", address: HOST_IP }, { type: "Hostname", address: "localhost" }],
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "process kubelet is posting ready status",
          lastHeartbeatTime: at,
          lastTransitionTime: at
        },
        ...["MemoryPressure", "DiskPressure", "PIDPressure"].map((type) => ({
          type,
          status: "False",
          reason: `KubeletHasNo${type}`,
          lastHeartbeatTime: at,
          lastTransitionTime: at
        }))
      ],
      nodeInfo: {
        machineID: "process-kubelet",
        systemUUID: "process-kubelet",
        bootID: "process-kubelet",
        kernelVersion: "",
        osImage: "process kubelet",
        containerRuntimeVersion: "process://1",
        kubeletVersion: "v1.37.2",
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture: "amd64"
      }
    }
  }
}

const decodeSecret = (data: Readonly<Record<string, string>> | undefined) =>
  data === undefined
    ? undefined
    : Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]))

/** Starts the kubelet in the scope: registers the Node and runs the pods bound to it until the scope closes. */
export const make = (api: KubeApi, options: Options): Effect.Effect<ProcessKubelet, Error, Scope.Scope> =>
  Effect.gen(function*() {
    mkdirSync(options.logFolder, { recursive: true })
    yield* api.request("POST", "/api/v1/nodes", nodeObject(options.nodeName)).pipe(
      Effect.catchIf((error) => error.status === 409, () => Effect.void)
    )
    const patchNode = api.request(
      "PATCH",
      `/api/v1/nodes/${options.nodeName}/status`,
      nodeStatus(),
      "application/merge-patch+json"
    )
    yield* patchNode
    // The heartbeat a kubelet posts; nothing here watches it, but `kubectl get nodes` reads it.
    yield* patchNode.pipe(Effect.ignore, Effect.repeat(Schedule.spaced(Duration.seconds(10))), Effect.forkScoped)

    const pods = yield* SubscriptionRef.make<ReadonlyMap<string, KubeletPod>>(new Map())
    const processes = new Map<string, Process.Started>()
    const deletions = new Map<string, Deferred.Deferred<number>>()
    /** Pods whose run ended with their final delete: a late event of one must not run it again. */
    const ended = new Set<string>()
    // At the end: every pod's process stopped by its pid, SIGTERM then SIGKILL. Added before the workers'
    // FiberMap so that it runs after they are interrupted (finalizers run in reverse): run first, it left
    // the workers a few seconds to start processes nothing stopped; one outlived its cluster on its
    // loopback address and ports, and the next cluster's pod at that address could not listen.
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...processes.values()], (child) => Process.stop(child, { grace: Duration.seconds(5) }), {
        concurrency: "unbounded",
        discard: true
      })
    )
    const workers = yield* FiberMap.make<string>()
    const hookRuns = yield* Ref.make<ReadonlyArray<HookRun>>([])
    const addresses = yield* Ref.make({ next: 10, used: new Set<string>() })

    const setPod = (uid: string, f: (pod: KubeletPod | undefined) => KubeletPod | undefined) =>
      SubscriptionRef.update(pods, (current) => {
        const next = new Map(current)
        const updated = f(current.get(uid))
        if (updated === undefined) next.delete(uid)
        else next.set(uid, updated)
        return next
      })

    /** A free address, new ones first: an address freed a moment ago may still be in DNS caches. */
    const allocateIp = Ref.modify(addresses, ({ next, used }) => {
      for (let i = 0; i < 241; i++) {
        const octet = 10 + ((next - 10 + i) % 241)
        const ip = `${options.podNetwork}.${octet}`
        if (!used.has(ip)) return [ip, { next: octet + 1, used: new Set([...used, ip]) }] as const
      }
      throw new Error(`no free pod address left in ${options.podNetwork}.10-250`)
    })
    const releaseIp = (ip: string) =>
      Ref.update(addresses, ({ next, used }) => ({ next, used: new Set([...used].filter((u) => u !== ip)) }))

    const sources = (namespace: string, podIP: string) => ({
      podIP,
      hostIP: HOST_IP,
      allocatable: { cpuMillis: 2000, memoryBytes: 24 * 2 ** 30 },
      configMap: (name: string) =>
        Effect.runPromise(
          api.request<{ data?: Record<string, string> }>("GET", `/api/v1/namespaces/${namespace}/configmaps/${name}`)
            .pipe(
              Effect.map((cm) => cm.data ?? {}),
              Effect.catchIf((e) => e.status === 404, () => Effect.succeed(undefined))
            )
        ),
      secret: (name: string) =>
        Effect.runPromise(
          api.request<{ data?: Record<string, string> }>("GET", `/api/v1/namespaces/${namespace}/secrets/${name}`).pipe(
            Effect.map((s) => decodeSecret(s.data ?? {})),
            Effect.catchIf((e) => e.status === 404, () => Effect.succeed(undefined))
          )
        ),
      services: (ns: string) =>
        Effect.runPromise(
          api.request<{ items: Array<KubeService> }>("GET", `/api/v1/namespaces/${ns}/services`).pipe(
            Effect.map((l) => l.items)
          )
        )
    })

    /** Runs one pod from its binding to its final deletion. */
    const runPod = (pod: IPod, deletion: Deferred.Deferred<number>) =>
      Effect.gen(function*() {
        const uid = pod.metadata!.uid!
        const namespace = pod.metadata!.namespace ?? "default"
        const name = pod.metadata!.name!
        const podPath = `/api/v1/namespaces/${namespace}/pods/${name}`
        const containers = pod.spec?.containers ?? []
        const container: Container = containers[0]!
        const ip = yield* allocateIp
        const listenIp = loopbackTwin(ip, options)
        yield* setPod(
          uid,
          () => ({ uid, namespace, name, ip, listenIp, pid: undefined, ready: false, restarts: 0, terminating: false })
        )
        const status = yield* Ref.make(
          PodStatus.initial({ podIP: ip, hostIP: HOST_IP, containerName: container.name, image: container.image ?? "" })
        )
        const patching = yield* Semaphore.make(1)
        /** Sends the whole status; patches go out one at a time, in order. */
        const publish = Effect.flatMap(Ref.get(status), (current) =>
          api.request(
            "PATCH",
            `${podPath}/status`,
            { status: PodStatus.toPodStatus(current) },
            "application/merge-patch+json"
          )).pipe(
            Effect.retry(
              Schedule.exponential(Duration.millis(50)).pipe(Schedule.upTo({ duration: Duration.seconds(5) }))
            ),
            Effect.catch((error) => Effect.logWarning(`status of ${namespace}/${name}: ${error.message}`)),
            Semaphore.withPermits(patching, 1)
          )
        /** Changes the record and, when that changed anything, publishes it. */
        const update = (f: (s: PodStatus.LocalStatus) => PodStatus.LocalStatus) =>
          Effect.gen(function*() {
            const [changed, next] = yield* Ref.modify(status, (s) => {
              const n = f(s)
              return [[n !== s, n] as const, n]
            })
            if (!changed) return
            yield* setPod(uid, (p) => p && { ...p, ready: next.ready, restarts: next.restartCount })
            yield* publish
          })
        const waiting = (reason: string, message: string) =>
          update((s) => ({ ...s, state: { waiting: { reason, message } }, ready: false }))
        yield* publish

        const program = Effect.gen(function*() {
          if (containers.length !== 1 || (pod.spec?.initContainers ?? []).length > 0) {
            return yield* Effect.fail({
              reason: "CreateContainerError",
              message: "the process kubelet runs pods of exactly one container and no init containers"
            })
          }
          const image = container.image ?? ""
          const stand = options.images(image)
          if (stand === undefined) {
            return yield* Effect.fail({
              reason: "ErrImagePull",
              message: `image ${image} has no local program on the process kubelet`
            })
          }
          const command = container.command ?? []
          const argv = command.length > 0
            ? [...command, ...(container.args ?? [])]
            : [ImageCommand.EXECUTABLE, ...(container.args ?? stand.args)]
          const resolved = ImageCommand.resolve(
            { command: stand.command, files: stand.files },
            argv
          )
          if (Result.isFailure(resolved)) {
            return yield* Effect.fail({ reason: "CreateContainerError", message: resolved.failure })
          }
          for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
            const why = probe === undefined ? undefined : Probe.unsupported(probe)
            if (why !== undefined) return yield* Effect.fail({ reason: "CreateContainerConfigError", message: why })
          }
          const env = yield* Effect.tryPromise({
            try: () => resolveEnv(pod, container, sources(namespace, ip)),
            catch: (error) => ({
              reason: "CreateContainerConfigError",
              message: error instanceof EnvError ? error.message : String(error)
            })
          })
          return { command: resolved.success.command, args: resolved.success.args, stand, env }
        })
        const prepared = yield* Effect.result(program)
        if (Result.isFailure(prepared)) {
          yield* waiting(prepared.failure.reason, prepared.failure.message)
          yield* Effect.logWarning(`pod ${namespace}/${name} cannot start: ${prepared.failure.message}`)
          return yield* finish(
            uid,
            ip,
            listenIp,
            podPath,
            yield* Deferred.await(deletion),
            status,
            update,
            Option.none()
          )
        }
        const { args, command, env, stand } = prepared.success
        const wildcard = (host: string | undefined) =>
          host === undefined || host === "" || host === "0.0.0.0" || host === "::"
        const ownLoopback = (host: string | undefined) =>
          host === undefined || host === "" || host === "::1" || host.startsWith("127.")
        const processEnv: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          HOSTNAME: pod.spec?.hostname ?? name,
          ...Object.fromEntries(env),
          // The pod's network namespace and resolv.conf, emulated (see the module comment).
          ...(wildcard(env.get("MIROIR_HTTP_HOST")) ? { MIROIR_HTTP_HOST: listenIp } : {}),
          ...(ownLoopback(env.get("MIROIR_ADMIN_HOST")) ? { MIROIR_ADMIN_HOST: listenIp } : {}),
          MIROIR_DNS_SERVERS: env.get("MIROIR_DNS_SERVERS") ?? options.dnsServer,
          MIROIR_CLUSTER_DOMAIN: env.get("MIROIR_CLUSTER_DOMAIN") ?? options.clusterDomain,
          // The pod network between pods, emulated likewise (see the module comment).
          MIROIR_PEER_ADDRESS_TWIN: env.get("MIROIR_PEER_ADDRESS_TWIN") ?? addressTwinVariable(options)
        }
        const logFile = join(options.logFolder, `${namespace}_${name}.log`)
        const restartPolicy = pod.spec?.restartPolicy ?? "Always"

        /** One run of the container: start, probe, and end by exit or by a failed startup or liveness probe. */
        const containerRun = Effect.gen(function*() {
          const child = Process.start(command, args, { env: processEnv, logFile })
          processes.set(uid, child)
          yield* setPod(uid, (p) => p && { ...p, pid: child.child.pid })
          const startedAt = PodStatus.now()
          yield* update((s) => ({
            ...s,
            phase: "Running",
            state: { running: { startedAt } },
            started: false,
            ready: false
          }))

          /**
           * Runs `probe` every period after its initial delay, calling `onResult` when a result holds for
           * its threshold; returns on the first result named by `until` ("never": runs until interrupted).
           */
          const probeLoop = (
            probe: NonNullable<Container["readinessProbe"]>,
            onResult: (ok: boolean) => Effect.Effect<void>,
            until: "success" | "failure" | "never"
          ) =>
            Effect.gen(function*() {
              const t = Probe.timing(probe)
              yield* Effect.sleep(t.initialDelay)
              let successes = 0
              let failures = 0
              while (true) {
                if (yield* Probe.attempt(probe, container, listenIp)) {
                  failures = 0
                  successes += 1
                  if (successes >= t.successThreshold) {
                    yield* onResult(true)
                    if (until === "success") return "succeeded" as const
                  }
                } else {
                  successes = 0
                  failures += 1
                  if (failures >= t.failureThreshold) {
                    yield* onResult(false)
                    if (until === "failure" || until === "success") return "failed" as const
                  }
                }
                yield* Effect.sleep(t.period)
              }
            })

          const probes = Effect.gen(function*() {
            if (container.startupProbe !== undefined) {
              const result = yield* probeLoop(container.startupProbe, () => Effect.void, "success")
              if (result === "failed") return "startup probe failed" as const
            }
            yield* update((s) => ({ ...s, started: true }))
            const readiness = container.readinessProbe
            if (readiness === undefined) {
              yield* update((s) => PodStatus.withReady(s, true))
            } else {
              const setReady = (ok: boolean) => update((s) => PodStatus.withReady(s, ok))
              // Readiness keeps probing while the container runs: a failure only takes the pod out of the endpoints.
              yield* Effect.forkScoped(probeLoop(readiness, setReady, "never"))
            }
            if (container.livenessProbe === undefined) return yield* Effect.never
            const live = container.livenessProbe
            yield* probeLoop(live, () => Effect.void, "failure")
            return "liveness probe failed" as const
          }).pipe(Effect.scoped)

          const outcome = yield* Effect.raceFirst(
            Effect.map(Process.exited(child), (ended) => ({ _tag: "Exited" as const, ...ended })),
            Effect.map(probes, (why) => ({ _tag: "Unhealthy" as const, why }))
          )
          if (outcome._tag === "Unhealthy") {
            yield* Effect.logInfo(`pod ${namespace}/${name}: ${outcome.why}, restarting its container`)
            yield* Process.stop(child, { grace: Duration.seconds(pod.spec?.terminationGracePeriodSeconds ?? 30) })
          }
          const ended = yield* Process.exited(child)
          processes.delete(uid)
          const exitCode = ended.code ?? 128 + (ended.signal === "SIGKILL" ? 9 : 15)
          const terminated = {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? "Completed" : "Error",
              startedAt,
              finishedAt: PodStatus.now()
            }
          }
          yield* setPod(uid, (p) => p && { ...p, pid: undefined })
          yield* update((s) => ({ ...PodStatus.withReady(s, false), state: terminated, started: false }))
          return exitCode
        })

        /** Runs the container again and again as the restart policy says, with the kubelet's back-off. */
        const lifecycle = Effect.gen(function*() {
          let backoff = options.restartBackoff
          while (true) {
            const ranSince = Date.now()
            const exitCode = yield* containerRun
            const restart = restartPolicy === "Always" || (restartPolicy === "OnFailure" && exitCode !== 0)
            if (!restart) {
              yield* update((s) => ({ ...s, phase: exitCode === 0 ? "Succeeded" : "Failed" }))
              return yield* Effect.never
            }
            // A container that ran ten minutes resets the back-off, as the kubelet's does.
            if (Date.now() - ranSince > 600_000) backoff = options.restartBackoff
            yield* update((s) => ({
              ...s,
              lastState: s.state,
              restartCount: s.restartCount + 1,
              state: {
                waiting: {
                  reason: "CrashLoopBackOff",
                  message: `back-off ${Duration.format(backoff)} restarting failed container`
                }
              }
            }))
            yield* Effect.sleep(backoff)
            backoff = Duration.min(Duration.times(backoff, 2), MAX_BACKOFF)
          }
        })

        /**
         * Runs an `exec` handler's command in the container, as a runtime would: the image's programs and
         * files mapped to this machine's, the container's environment, its output in the pod's log; at
         * most `timeout`, then stopped by its own pid. A failure is logged, as the kubelet's
         * FailedPreStopHook event reports it, and the deletion goes on.
         */
        const runExec = (argv: ReadonlyArray<string>, timeout: Duration.Duration) =>
          Effect.gen(function*() {
            const started = Date.now()
            const resolved = ImageCommand.resolve({ command: stand.command, files: stand.files }, argv)
            if (Result.isFailure(resolved)) {
              return yield* Effect.logWarning(`preStop hook of ${namespace}/${name} not run: ${resolved.failure}`)
            }
            // Its output kept apart (the pod's log would mix in the container's), then appended to that log.
            const hook = Process.start(resolved.success.command, resolved.success.args, { env: processEnv })
            const ended = yield* Process.exitedWithin(hook, timeout).pipe(
              Effect.catchTag("StillRunning", () => Effect.succeed({ code: null, signal: null, timedOut: true })),
              // Past its time, or when the deletion's own deadline interrupts this first: stopped by its pid.
              Effect.ensuring(Process.stop(hook, { grace: Duration.seconds(1) }))
            )
            const output = hook.output()
            appendFileSync(
              logFile,
              output.split("\n").filter((line) => line !== "").map((line) => `[preStop] ${line}\n`).join("")
            )
            yield* Ref.update(hookRuns, (runs) => [
              ...runs,
              { pod: `${namespace}/${name}`, exitCode: ended.code, ms: Date.now() - started, output }
            ])
            if (ended.code !== 0) {
              yield* Effect.logWarning(
                `preStop hook of ${namespace}/${name} failed (${
                  "timedOut" in ended ? `still running after ${Duration.format(timeout)}` : `exit ${ended.code}`
                }): ${argv.join(" ")}: ${output.trim()}`
              )
            }
          })

        const grace = yield* Effect.raceFirst(Deferred.await(deletion), lifecycle)
        return yield* finish(uid, ip, listenIp, podPath, grace, status, update, Option.some({ container, runExec }))
      })

    /**
     * Graceful deletion: not ready, the preStop hook, SIGTERM, SIGKILL when the grace period (counted
     * from the start of the deletion, preStop included) runs out, and the final delete of the pod.
     */
    const finish = (
      uid: string,
      ip: string,
      listenIp: string,
      podPath: string,
      grace: number,
      status: Ref.Ref<PodStatus.LocalStatus>,
      update: (f: (s: PodStatus.LocalStatus) => PodStatus.LocalStatus) => Effect.Effect<void>,
      running: Option.Option<{
        readonly container: Container
        readonly runExec: (argv: ReadonlyArray<string>, timeout: Duration.Duration) => Effect.Effect<void>
      }>
    ) =>
      Effect.gen(function*() {
        const deadline = Date.now() + grace * 1000
        yield* setPod(uid, (p) => p && { ...p, terminating: true })
        yield* update((s) => PodStatus.withReady(s, false))
        const child = processes.get(uid)
        if (child !== undefined && Option.isSome(running)) {
          const { container, runExec } = running.value
          const preStop = container.lifecycle?.preStop
          const left = () => Duration.millis(Math.max(0, deadline - Date.now()))
          const hook = preStop?.exec !== undefined
            ? runExec(preStop.exec.command ?? [], left())
            : preStop?.sleep !== undefined
            ? Effect.sleep(Duration.seconds(preStop.sleep.seconds))
            : preStop?.httpGet !== undefined
            ? Effect.asVoid(
              Probe.attempt({ httpGet: preStop.httpGet, timeoutSeconds: grace }, container, listenIp)
            )
            : Effect.void
          yield* hook.pipe(Effect.timeout(left()), Effect.ignore)
          yield* Process.stop(child, { grace: Duration.millis(Math.max(0, deadline - Date.now())) })
          processes.delete(uid)
        }
        const current = yield* Ref.get(status)
        if (current.state.terminated === undefined && current.state.running !== undefined) {
          const startedAt = current.state.running.startedAt
          yield* update((s) => ({
            ...s,
            state: {
              terminated: {
                exitCode: 0,
                reason: "Completed",
                finishedAt: PodStatus.now(),
                ...(startedAt === undefined ? {} : { startedAt })
              }
            }
          }))
        }
        yield* api.request("DELETE", podPath, {
          apiVersion: "v1",
          kind: "DeleteOptions",
          gracePeriodSeconds: 0,
          preconditions: { uid }
        }).pipe(
          Effect.catchIf((e) => e.status === 404 || e.status === 409, () => Effect.void),
          Effect.catch((e) => Effect.logWarning(`final delete of ${podPath}: ${e.message}`))
        )
        yield* releaseIp(ip)
        yield* setPod(uid, () => undefined)
        ended.add(uid)
      })

    const bind = (pod: IPod) =>
      api.request("POST", `/api/v1/namespaces/${pod.metadata?.namespace}/pods/${pod.metadata?.name}/binding`, {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: pod.metadata?.name, namespace: pod.metadata?.namespace },
        target: { apiVersion: "v1", kind: "Node", name: options.nodeName }
      }).pipe(Effect.catch((e) => Effect.logDebug(`binding ${pod.metadata?.name}: ${e.message}`)))

    /** Acts on the pods the API server has: binds new ones, starts ours, and ends deleted ones. */
    const reconcile = (all: ReadonlyMap<string, IPod>) =>
      Effect.gen(function*() {
        const present = new Set<string>()
        for (const pod of all.values()) {
          const uid = pod.metadata?.uid
          if (uid === undefined) continue
          const nodeName = pod.spec?.nodeName
          const deleting = pod.metadata?.deletionTimestamp !== undefined
          if (
            (nodeName === undefined || nodeName === "") && !deleting &&
            (pod.spec?.schedulerName ?? "default-scheduler") === "default-scheduler"
          ) {
            yield* Effect.forkScoped(bind(pod))
            continue
          }
          // A pod the kubelet has deleted may still come in a list or event the watch had not caught up
          // with: running it again would start its container once more, only to delete it.
          if (nodeName !== options.nodeName || ended.has(uid)) continue
          present.add(uid)
          const phase = pod.status?.phase
          if (!deletions.has(uid)) {
            if (phase === "Succeeded" || phase === "Failed") continue
            const deletion = yield* Deferred.make<number>()
            deletions.set(uid, deletion)
            yield* FiberMap.run(
              workers,
              uid,
              runPod(pod, deletion).pipe(
                Effect.catchCause((cause) =>
                  Effect.logError(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} failed in the kubelet`, cause)
                ),
                Effect.ensuring(Effect.sync(() => deletions.delete(uid)))
              )
            )
          }
          if (deleting) yield* Deferred.succeed(deletions.get(uid)!, pod.metadata?.deletionGracePeriodSeconds ?? 30)
        }
        // Gone from the API without a graceful deletion (a forced delete): stop at once.
        for (const [uid, deletion] of deletions) if (!present.has(uid)) yield* Deferred.succeed(deletion, 0)
      })

    const informer = yield* api.informer<IPod>("/api/v1/pods")
    yield* SubscriptionRef.changes(informer).pipe(Stream.runForEach(reconcile), Effect.forkScoped)

    return {
      nodeName: options.nodeName,
      pods,
      hooks: Ref.get(hookRuns),
      killContainer: (namespace, name) =>
        Effect.gen(function*() {
          const pod = [...(yield* SubscriptionRef.get(pods)).values()].find((p) =>
            p.namespace === namespace && p.name === name
          )
          const child = pod === undefined ? undefined : processes.get(pod.uid)
          if (child?.child.pid === undefined) {
            return yield* Effect.fail(
              new Error(`pod ${namespace}/${name} has no running container on ${options.nodeName}`)
            )
          }
          yield* Process.signal(child, "SIGKILL")
        })
    }
  })
