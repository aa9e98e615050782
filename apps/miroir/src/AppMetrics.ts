/**
 * Every metric of the pod service beyond the library's (`@miroir/peer-discovery` Metrics) and the
 * process's (ProcessMetrics): the view digest, the ownership audit, the guard of `/ownership` and the
 * HTTP server's limits.
 * No metric carries a per-peer or per-digest label: a label whose value changes would leave one series
 * behind at every change.
 */
import { type Hint, Metrics } from "@miroir/peer-discovery"
import { Context, Metric } from "effect"

/**
 * The digest of this pod's view (`PeerSet.digest`, 32 bits) as a number. Pods that agree on their
 * peers show the same value; `count(count_values("digest", miroir_peer_view_digest))` is the number of
 * distinct views. As a value rather than a label, a change of view leaves no stale series behind.
 */
export const viewDigest = Metric.gauge("miroir_peer_view_digest", {
  description:
    "Digest of this pod's view of the peers (first 32 bits of SHA-256 of the sorted ids); equal on pods that agree"
})

/** 1 while this pod is the ownership auditor (the owner of the audit key in its own view), else 0. */
export const auditIsAuditor = Metric.gauge("miroir_ownership_audit_is_auditor", {
  description: "1 while this pod audits ownership across the pods, else 0"
})

/** Shards no answering pod claims, in the last audit (0 on pods that are not the auditor). */
export const auditUnownedShards = Metric.gauge("miroir_ownership_audit_unowned_shards", {
  description: "Shards no pod claims, in this pod's last ownership audit (0 unless it is the auditor)"
})

/** Shards claimed by more than one pod, in the last audit (0 on pods that are not the auditor). */
export const auditMultiOwnedShards = Metric.gauge("miroir_ownership_audit_multi_owned_shards", {
  description: "Shards claimed by more than one pod, in this pod's last ownership audit (0 unless it is the auditor)"
})

/** Peers of the auditor's view that did not answer the last audit. */
export const auditUnreachablePeers = Metric.gauge("miroir_ownership_audit_unreachable_peers", {
  description: "Peers that did not answer this pod's last ownership audit (0 unless it is the auditor)"
})

/** Distinct views among the pods that answered the last audit (1 when all agree). */
export const auditDistinctViews = Metric.gauge("miroir_ownership_audit_distinct_views", {
  description:
    "Distinct views of the peers among the pods that answered this pod's last ownership audit (0 unless it is the auditor)"
})

/** Peers that answered under another id than the one the auditor asked (a pod that cannot identify itself). */
export const auditIdentityMismatches = Metric.gauge("miroir_ownership_audit_identity_mismatches", {
  description: "Peers that answered the ownership audit under another id than the one they are listed under"
})

/** When this pod last completed an audit, in Unix seconds. */
export const auditLastRunTimestamp = Metric.gauge("miroir_ownership_audit_last_run_timestamp_seconds", {
  description: "Unix time of this pod's last completed ownership audit"
})

/** Audits this pod completed. */
export const auditRuns = Metric.counter("miroir_ownership_audit_runs_total", {
  description: "Ownership audits this pod completed",
  incremental: true
})

/** `/ownership` requests answered 503 because too many were in flight or queued, or one waited too long. */
export const ownershipRejected = Metric.counter("miroir_ownership_requests_rejected_total", {
  description: "GET /ownership requests answered 503 (too many in flight and queued, or waited too long)",
  incremental: true
})

/**
 * Why the HTTP server refused a connection or a request, or cut a client off (see HttpApi/Limits.ts):
 * - `connections_per_source`, `connections_total`: a connection closed as it arrived, its source address
 *   holding as many as one may, or the pod as many as it takes;
 * - `requests_held`: a request answered 503 at once, as many being held already (waiting or served);
 * - `body_too_large`: a `POST /hints` body over its limit, answered 413;
 * - `request_timeout`: a client that had not sent its whole request (headers, then body) in time;
 * - `idle_timeout`: a connection with an answer under way on which nothing moved for too long (a client
 *   that does not read what it asked for);
 * - `pipelined`: a connection closed for sending more requests ahead of their answers than one may;
 * - `malformed`: a request Node's parser refused (400, 431).
 */
export type HttpRefusal =
  | "connections_per_source"
  | "connections_total"
  | "requests_held"
  | "body_too_large"
  | "request_timeout"
  | "idle_timeout"
  | "pipelined"
  | "malformed"

/** Every {@link HttpRefusal}, for the series that exist from the start at 0. */
export const httpRefusals: ReadonlyArray<HttpRefusal> = [
  "connections_per_source",
  "connections_total",
  "requests_held",
  "body_too_large",
  "request_timeout",
  "idle_timeout",
  "pipelined",
  "malformed"
]

/** Connections and requests the HTTP server refused or cut off, by reason ({@link HttpRefusal}). */
export const httpRefused = Metric.counter("miroir_http_refused_total", {
  description:
    "Connections and requests the HTTP API refused or cut off, by reason: connections_per_source, connections_total, requests_held, body_too_large, request_timeout, idle_timeout, pipelined, malformed",
  incremental: true
})

/** The refusal counter of one reason. */
export const httpRefusedWith = (reason: HttpRefusal) => Metric.withAttributes(httpRefused, { reason })

/**
 * Counts a refusal of the guarded servers' (internal/guardedServer.ts), synchronously: it happens in
 * Node's callbacks, outside any fiber, so it updates the default registry directly.
 */
export const countRefusal = (reason: HttpRefusal, count = 1): void =>
  httpRefusedWith(reason).updateUnsafe(count, Context.empty())

/** Connections open on the HTTP API's port now (those admitted: see HttpApi/Limits.ts). */
export const httpOpenConnections = Metric.gauge("miroir_http_open_connections", {
  description: "Connections open on the HTTP API's port (admitted ones)"
})

/** Requests held by the HTTP API now: waiting for their turn or being served (the probes aside). */
export const httpHeldRequests = Metric.gauge("miroir_http_held_requests", {
  description: "Requests the HTTP API holds now, waiting for their turn or being served, the probes aside"
})

/** Sets {@link httpOpenConnections} and {@link httpHeldRequests}, synchronously, as {@link countRefusal} counts. */
export const countOpen = (connections: number, held: number): void => {
  httpOpenConnections.updateUnsafe(connections, Context.empty())
  httpHeldRequests.updateUnsafe(held, Context.empty())
}

/**
 * Why a `POST /hints` was refused before it reached discovery (so costing no lookup and no hint slot):
 * `content_type` (not `application/json`), `malformed` (not a hint), `source` (not from the pod it names
 * nor from a peer).
 */
export type HintRefusal = "content_type" | "malformed" | "source"

/** Hints refused on arrival, by reason. */
export const hintsRefused = Metric.counter("miroir_hints_refused_total", {
  description:
    "POST /hints refused before discovery saw them, by reason (content_type, malformed, source): no lookup, no slot",
  incremental: true
})

/** The refused-hint counter of one reason. */
export const hintsRefusedWith = (reason: HintRefusal) => Metric.withAttributes(hintsRefused, { reason })

/**
 * Discovery's hint counter (`miroir_peer_discovery_hints_total`) for hints of `kind` taken while this pod's
 * hints are off (`MIROIR_PEER_HINTS=off`): answered `off` and never handed to discovery, which knows nothing
 * of the setting.
 */
export const hintsOffWith = (kind: Hint.Kind) => Metric.withAttributes(Metrics.hints, { kind, result: "off" })

/**
 * Probes of the failure detector this pod answered, by kind: `direct` (`GET /ping`, answered by the server
 * before any queue) and `indirect` (`GET /probe`, a ping made for a peer). With the library's
 * `miroir_peer_probes_sent_total`, what failure detection costs a pod.
 */
export const probesReceived = Metric.counter("miroir_peer_probes_received_total", {
  description: "Probes of the failure detector this pod answered, by kind (direct: GET /ping; indirect: GET /probe)",
  incremental: true
})

/** The received-probe counter of one kind. */
export const probesReceivedOf = (kind: Metrics.ProbeKind) => Metric.withAttributes(probesReceived, { kind })

/** Counts one `GET /ping` answered by the server itself, synchronously, as {@link countRefusal} counts. */
export const countProbeReceived = (): void => probesReceivedOf("direct").updateUnsafe(1, Context.empty())
