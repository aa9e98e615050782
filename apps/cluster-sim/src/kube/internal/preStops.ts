/**
 * What the preStop hooks of gracefully deleted pods did, as the pods' own logs (kept after they are gone)
 * and the kubelet's `FailedPreStopHook` events tell: a real kubelet runs the hook, so the harness can only
 * read its effects.
 */
import { Effect } from "effect"
import type { KubeApiError, Service as KubeApiService } from "../KubeApi.js"
import type { PodLogs } from "./podLogs.js"

/** What a graceful deletion's preStop hook did, as the pod's own log and the kubelet's events tell. */
export interface PreStop {
  /** The pod's name. */
  readonly pod: string
  /** The hook reached the pod's admin listener: the pod logged the leave request. */
  readonly requested: boolean
  /** The pod left through it: DNS had dropped it and it sent its `left` hints to its peers. */
  readonly left: boolean
  /** The message of the kubelet's FailedPreStopHook event for the pod, if it failed. */
  readonly failed: string | undefined
}

/** What the pod service logs when the preStop hook's `miroir leave` reaches it, and when it has left. */
const LEAVE_REQUESTED = "leave requested (admin listener)"
const LEFT_HINTS_SENT = "sent refresh hints: left"

/**
 * The preStop hooks of the pods of `namespace` that were deleted gracefully (`terminated`, less the
 * `crashed` ones, which had no hook to run): what each one's log says, and the kubelet's event if it failed.
 */
export const readPreStops = (
  api: KubeApiService,
  namespace: string,
  terminated: ReadonlySet<string>,
  crashed: ReadonlySet<string>,
  logs: PodLogs
): Effect.Effect<ReadonlyArray<PreStop>, KubeApiError> =>
  Effect.gen(function*() {
    const events = yield* api.request<{ items: Array<{ involvedObject: { name: string }; message?: string }> }>(
      "GET",
      `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent("reason=FailedPreStopHook")}`
    )
    return [...terminated].filter((pod) => !crashed.has(pod)).map((pod): PreStop => {
      const log = logs.read(pod)
      return {
        pod,
        requested: log.includes(LEAVE_REQUESTED),
        left: log.includes(LEFT_HINTS_SENT),
        failed: events.items.find((event) => event.involvedObject.name === pod)?.message
      }
    })
  })
