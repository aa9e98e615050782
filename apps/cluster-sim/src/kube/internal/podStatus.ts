/**
 * The status a kubelet reports for a pod of one container: phase, IPs, the five pod conditions with
 * their transition times, and the container's state, last state and restart count. Built whole from
 * the kubelet's local record, so that every patch says everything (a merge patch replaces lists).
 */
import type { IIoK8sApiCoreV1ContainerState as ContainerState } from "kubernetes-models/v1/ContainerState"
import type { IIoK8sApiCoreV1PodStatus as PodStatus } from "kubernetes-models/v1/PodStatus"

/** What the kubelet knows of one pod. */
export interface LocalStatus {
  readonly phase: "Pending" | "Running" | "Succeeded" | "Failed"
  readonly podIP: string
  readonly hostIP: string
  readonly startTime: string
  readonly containerName: string
  readonly image: string
  readonly state: ContainerState
  readonly lastState: ContainerState
  readonly restartCount: number
  readonly started: boolean
  readonly ready: boolean
  /** When each condition last changed, by type. */
  readonly transitions: Readonly<Record<string, string>>
}

/** RFC 3339 time, as the API stores it (whole seconds). */
export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z")

/** The record at the start: Pending, container being created. */
export const initial = (
  options: { podIP: string; hostIP: string; containerName: string; image: string }
): LocalStatus => {
  const at = now()
  return {
    phase: "Pending",
    ...options,
    startTime: at,
    state: { waiting: { reason: "ContainerCreating" } },
    lastState: {},
    restartCount: 0,
    started: false,
    ready: false,
    transitions: { PodScheduled: at, PodReadyToStartContainers: at, Initialized: at, ContainersReady: at, Ready: at }
  }
}

/** Sets readiness, recording the transition time of Ready and ContainersReady when it changes. */
export const withReady = (status: LocalStatus, ready: boolean): LocalStatus =>
  status.ready === ready
    ? status
    : { ...status, ready, transitions: { ...status.transitions, Ready: now(), ContainersReady: now() } }

/** The API's PodStatus of the record. */
export const toPodStatus = (status: LocalStatus): PodStatus => {
  const condition = (type: string, value: boolean, reason?: string) => ({
    type,
    status: value ? "True" : "False",
    lastProbeTime: null as unknown as string,
    lastTransitionTime: status.transitions[type] ?? status.startTime,
    ...(value || reason === undefined ? {} : { reason })
  })
  const terminal = status.phase === "Succeeded" || status.phase === "Failed"
  return {
    phase: status.phase,
    hostIP: status.hostIP,
    hostIPs: [{ ip: status.hostIP }],
    podIP: status.podIP,
    podIPs: [{ ip: status.podIP }],
    startTime: status.startTime,
    conditions: [
      condition("PodReadyToStartContainers", !terminal),
      condition("Initialized", true),
      condition("Ready", status.ready, terminal ? "PodCompleted" : "ContainersNotReady"),
      condition("ContainersReady", status.ready, terminal ? "PodCompleted" : "ContainersNotReady"),
      condition("PodScheduled", true)
    ],
    containerStatuses: [
      {
        name: status.containerName,
        image: status.image,
        imageID: `process-kubelet://${status.image}`,
        containerID: status.state.running !== undefined || status.state.terminated !== undefined
          ? `process://${status.podIP}/${status.restartCount}`
          : undefined,
        ready: status.ready,
        started: status.started,
        restartCount: status.restartCount,
        state: status.state,
        lastState: status.lastState
      } as NonNullable<PodStatus["containerStatuses"]>[number]
    ]
  }
}
