/**
 * A gray failure of one pod on the real node: every process of the pod (its sandbox and its containers)
 * frozen through the cgroup v1 freezer of the pod's own cgroup, as Node.freeze does for the whole node.
 * The pod keeps its address, its sockets and its place in DNS (the kubelet's probes fail only once the
 * freeze outlasts their thresholds), and answers nothing: a hung event loop, a long GC, a throttled CPU.
 *
 * Only the pod's cgroup below the node's own cgroup root is written to; the scope's end thaws it (a
 * frozen process cannot die, and so the node could not be torn down).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Data, Duration, Effect, type Scope } from "effect"
import type { KubeCluster } from "./KubeCluster.js"

/** The pod's freezer could not be found or written; `reason` says why. */
export class PodFreezeError extends Data.TaggedError("PodFreezeError")<{
  readonly pod: string
  readonly reason: string
}> {
  override get message(): string {
    return `freezing pod ${this.pod}: ${this.reason}`
  }
}

/** The freezer hierarchy of cgroup v1, where the kubelet (cgroupfs driver) makes the pods' cgroups. */
const FREEZER = "/sys/fs/cgroup/freezer"

/** A frozen pod: thaw it before the scope ends to let it run again (thawing twice does nothing). */
export interface FrozenPod {
  readonly name: string
  /** The pod's cgroup in the freezer hierarchy. */
  readonly cgroup: string
  /** When the freezer reported the pod FROZEN (ms since the epoch). */
  readonly frozenAt: number
  readonly thaw: Effect.Effect<void>
}

/**
 * The pod's cgroup below `root` (the node's cgroup root): the kubelet names it `pod<uid>`, under its QoS
 * class's cgroup (`kubepods/besteffort/pod<uid>`, `kubepods/burstable/…`, or `kubepods/pod<uid>` for a
 * guaranteed pod).
 */
export const findPodCgroup = (root: string, uid: string): string | undefined => {
  const wanted = `pod${uid}`
  const search = (dir: string, depth: number): string | undefined => {
    if (depth > 4 || !existsSync(dir)) return undefined
    for (const name of readdirSync(dir)) {
      const child = join(dir, name)
      try {
        if (!statSync(child).isDirectory()) continue
      } catch {
        continue
      }
      if (name === wanted) return child
      const below = search(child, depth + 1)
      if (below !== undefined) return below
    }
    return undefined
  }
  return search(join(FREEZER, root), 0)
}

const writeState = (pod: string, cgroup: string, state: "FROZEN" | "THAWED") =>
  Effect.try({
    try: () => writeFileSync(join(cgroup, "freezer.state"), state),
    catch: (e) => new PodFreezeError({ pod, reason: `${cgroup}: ${(e as Error).message}` })
  })

const readState = (cgroup: string) => {
  try {
    return readFileSync(join(cgroup, "freezer.state"), "utf8").trim()
  } catch {
    return "GONE"
  }
}

/**
 * Freezes pod `name` of the cluster's release: finds its node and its cgroup, writes FROZEN and waits
 * (up to 5 s) until the kernel reports every task frozen. The scope's end thaws it.
 */
export const freeze = (
  cluster: KubeCluster,
  namespace: string,
  name: string
): Effect.Effect<FrozenPod, PodFreezeError, Scope.Scope> =>
  Effect.gen(function*() {
    const pod = yield* cluster.controlPlane.api.request<IPod>("GET", `/api/v1/namespaces/${namespace}/pods/${name}`)
      .pipe(Effect.mapError((e) => new PodFreezeError({ pod: name, reason: e.message })))
    const uid = pod.metadata?.uid
    const node = cluster.nodes.find((n) => n.name === pod.spec?.nodeName)
    if (uid === undefined || node === undefined) {
      return yield* new PodFreezeError({
        pod: name,
        reason: `no uid or no node of this cluster (${pod.spec?.nodeName})`
      })
    }
    const cgroup = findPodCgroup(node.cgroupRoot, uid)
    if (cgroup === undefined) {
      return yield* new PodFreezeError({ pod: name, reason: `no cgroup pod${uid} below ${FREEZER}${node.cgroupRoot}` })
    }
    const thaw = writeState(name, cgroup, "THAWED").pipe(
      Effect.catch((error) => existsSync(cgroup) ? Effect.logWarning(error.message) : Effect.void)
    )
    yield* Effect.acquireRelease(writeState(name, cgroup, "FROZEN"), () => thaw)
    // FREEZING until every task has stopped; a pod is frozen in milliseconds, 5 s means something is wrong.
    const deadline = Date.now() + 5000
    while (readState(cgroup) !== "FROZEN") {
      if (Date.now() > deadline) {
        yield* thaw
        return yield* new PodFreezeError({ pod: name, reason: `still ${readState(cgroup)} after 5 s` })
      }
      yield* Effect.sleep(Duration.millis(5))
    }
    return { name, cgroup, frozenAt: Date.now(), thaw }
  })
