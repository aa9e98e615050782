/** The annotations of every log line of discovery, so that a pod's lines are found among others'. */
import { Effect } from "effect"
import type { SelfIdentity } from "../PeerId.js"

/** Annotates the log lines of `effect` as discovery's, in the pod `identity` names (its fallback id). */
export const annotateDiscoveryLogs =
  (identity: SelfIdentity) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.annotateLogs(effect, { service: "peer-discovery", pod: identity.fallback })
