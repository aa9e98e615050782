/**
 * The containers' logs of a release's pods, kept after the pods are gone: a real kubelet deletes a
 * pod's logs with the pod, but what a terminating pod printed (its preStop leave, its shutdown) is what
 * the acceptance checks. Each container run is followed with `kubectl logs --follow` (through the API
 * server and the kubelet, as an operator reads them) from the moment it runs until it exits, into
 * `<folder>/<pod>.<restart>.log`. The followers stop by their pids when the scope closes.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Process from "@miroir/process-kit/ChildProcess"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Effect, type Scope } from "effect"

/** The followers of a release's containers. */
export interface PodLogs {
  /** Starts following the containers of `pod` that run now and are not followed yet. */
  readonly follow: (pod: IPod) => Effect.Effect<void>
  /** Everything pod `name`'s containers printed so far, every run in order ("" when none was followed). */
  readonly read: (name: string) => string
  /** The names of the pods followed so far. */
  readonly pods: () => ReadonlyArray<string>
}

/**
 * Follows the container `container` of the pods given to {@link PodLogs.follow} with `kubectl` (its
 * executable and kubeconfig) into `folder`.
 */
export const make = (
  kubectl: string,
  kubeconfig: string,
  namespace: string,
  container: string,
  folder: string
): Effect.Effect<PodLogs, never, Scope.Scope> =>
  Effect.gen(function*() {
    mkdirSync(folder, { recursive: true })
    const followers = new Map<string, Process.Started>()
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...followers.values()], (started) => Process.stop(started), {
        concurrency: "unbounded",
        discard: true
      })
    )
    const follow = (pod: IPod) =>
      Effect.sync(() => {
        const name = pod.metadata?.name
        const status = pod.status?.containerStatuses?.find((s) => s.name === container)
        if (name === undefined || status?.state?.running === undefined) return
        const key = `${name}.${status.restartCount}`
        if (followers.has(key)) return
        followers.set(
          key,
          Process.start(kubectl, [
            "--kubeconfig",
            kubeconfig,
            "logs",
            "--follow",
            "--namespace",
            namespace,
            name,
            "--container",
            container
          ], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, logFile: join(folder, `${key}.log`) })
        )
      })
    const read = (name: string) =>
      existsSync(folder)
        ? readdirSync(folder)
          .filter((file) => file.startsWith(`${name}.`) && file.endsWith(".log"))
          .sort((a, b) => Number(a.split(".").at(-2)) - Number(b.split(".").at(-2)))
          .map((file) => readFileSync(join(folder, file), "utf8"))
          .join("")
        : ""
    const pods = () => [...new Set([...followers.keys()].map((key) => key.slice(0, key.lastIndexOf("."))))]
    return { follow, read, pods }
  })
