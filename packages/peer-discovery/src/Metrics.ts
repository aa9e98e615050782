/**
 * Every metric of peer discovery, in one place. They are Effect metrics: the service updates them,
 * and the application exports them (OTLP, Prometheus). No metric carries a per-peer label.
 */
import { Metric } from "effect"
import type { DnsOutcome } from "./DnsLookupError.js"
import type * as Hint from "./Hint.js"

/** The size of the current peer set, this pod included. */
export const peerPodCount = Metric.gauge("miroir_peer_pod_count", {
  description: "Peers in this pod's current set, itself included"
})

/** The result label of {@link lookups}: `ok`, or the outcome of a lookup that returned no records. */
export type LookupResult = "ok" | DnsOutcome

/** Lookups by result. */
export const lookups = Metric.counter("miroir_peer_discovery_lookups_total", {
  description:
    "DNS lookups of the peers, by result (ok, nxdomain, nodata, timeout, servfail, refused, truncated, error)",
  incremental: true
})

/** The lookup counter of one result. */
export const lookupsWithResult = (result: LookupResult) => Metric.withAttributes(lookups, { result })

/** How long lookups take, in seconds, whatever their result. */
export const lookupDuration = Metric.histogram("miroir_peer_discovery_lookup_duration_seconds", {
  description: "Duration of DNS lookups of the peers, in seconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 16 })
})

/** When DNS last answered (records, NXDOMAIN or no data), in Unix seconds. */
export const lastSuccessTimestamp = Metric.gauge("miroir_peer_discovery_last_success_timestamp_seconds", {
  description: "Unix time of the last DNS answer about the peers"
})

/** 1 when the last answer listed this pod, else 0. */
export const selfInDns = Metric.gauge("miroir_peer_discovery_self_in_dns", {
  description: "1 when DNS lists this pod among the peers, else 0"
})

/** Changes of the set's membership. */
export const membershipChanges = Metric.counter("miroir_peer_membership_changes_total", {
  description: "Changes of the peer set's membership",
  incremental: true
})

/** SRV targets outside the Service's domain, ignored. */
export const foreignTargets = Metric.counter("miroir_peer_discovery_foreign_targets_total", {
  description: "SRV targets outside the headless Service's domain, ignored",
  incremental: true
})

/** Why a record of an answer was dropped instead of taken as a peer. */
export type IgnoredReason = "other_owner" | "port_zero"

/**
 * Records dropped from answers: `other_owner`, a record whose owner name is not the name asked (a
 * confused or spoofing server); `port_zero`, an SRV record with port 0 (RFC 2782: the service is not there).
 */
export const ignoredRecords = Metric.counter("miroir_peer_discovery_ignored_records_total", {
  description: "Records dropped from DNS answers as not peers, by reason (other_owner, port_zero)",
  incremental: true
})

/** The ignored-records counter of one reason. */
export const ignoredRecordsWithReason = (reason: IgnoredReason) => Metric.withAttributes(ignoredRecords, { reason })

/** How a large shrink held for confirmation ended: applied after the next lookup agreed, or dropped. */
export type ShrinkResult = "confirmed" | "unconfirmed"

/**
 * Large shrinks (an answer that would remove more than half of the peers, or leave this pod alone after it
 * had peers), by how the confirming lookup ended them.
 */
export const largeShrinks = Metric.counter("miroir_peer_discovery_large_shrinks_total", {
  description:
    "Answers that would remove more than half of the peers or leave this pod alone, by result: confirmed (applied) or unconfirmed (ignored)",
  incremental: true
})

/** The large-shrink counter of one result. */
export const largeShrinksWithResult = (result: ShrinkResult) => Metric.withAttributes(largeShrinks, { result })

/** Shards this pod owns; set by the consumer that partitions them. */
export const ownedShards = Metric.gauge("miroir_owned_shards_count", {
  description: "Shards this pod owns by rendezvous hashing"
})

/** Computations of every shard's owner by a Rendezvous service: one per view and shard count while cached. */
export const ownershipComputations = Metric.counter("miroir_ownership_computations_total", {
  description:
    "Computations of the owner of every shard for one view and shard count (the rest are served from the cache)",
  incremental: true
})

/**
 * Refresh hints received, by kind and by what became of them: discovery counts its own results
 * (Hint.Result); an application that takes hints without handing them to discovery counts them here under
 * a result of its own (the pod's `off`, when its hints are off).
 */
export const hints = Metric.counter("miroir_peer_discovery_hints_total", {
  description:
    "Refresh hints received from peers, by kind (joined, left) and result (following, pending, agreed, full, or the application's own)",
  incremental: true
})

/** The hint counter of one kind and of one of discovery's results. */
export const hintsWith = (kind: Hint.Kind, result: Hint.Result) => Metric.withAttributes(hints, { kind, result })

/** How a followed hint ended: DNS agreed with it (`confirmed`) or its budget ran out (`expired`). */
export type HintEnd = "confirmed" | "expired"

/** Followed hints that ended, by how. */
export const hintsEnded = Metric.counter("miroir_peer_discovery_hints_ended_total", {
  description: "Followed refresh hints that ended: confirmed by DNS, or expired at the end of their budget",
  incremental: true
})

/** The ended-hint counter of one end. */
export const hintsEndedWith = (end: HintEnd) => Metric.withAttributes(hintsEnded, { result: end })

/** A probe of the failure detector: of a peer (`direct`), or asking a peer to probe another (`indirect`). */
export type ProbeKind = "direct" | "indirect"

/** Probes this pod sent, by kind: what failure detection costs it. */
export const probesSent = Metric.counter("miroir_peer_probes_sent_total", {
  description: "Probes this pod sent to its peers, by kind (direct: a ping; indirect: asking a peer to ping another)",
  incremental: true
})

/** The sent-probe counter of one kind. */
export const probesSentOf = (kind: ProbeKind) => Metric.withAttributes(probesSent, { kind })

/** What a probe of this pod found: an answer, no answer, or an answer waited for so long that this pod was the slow one. */
export type ProbeResult = "ok" | "failed" | "late"

/** Direct probes by result. */
export const probeResults = Metric.counter("miroir_peer_probe_results_total", {
  description:
    "Direct probes of peers by result (ok; failed; late: waited far past the timeout, this pod was slow, not counted)",
  incremental: true
})

/** The probe-result counter of one result. */
export const probeResultsOf = (result: ProbeResult) => Metric.withAttributes(probeResults, { result })

/** A change of a peer's standing: suspected, refuted (answered while suspected), down (held down), back (answered while down). */
export type SuspicionResult = "suspected" | "refuted" | "down" | "back"

/** Changes of peers' standing in this pod's failure detector. */
export const suspicions = Metric.counter("miroir_peer_suspicions_total", {
  description:
    "Changes of a peer's standing: suspected, refuted (it answered), down (held down: its shards moved), back (it answered again)",
  incremental: true
})

/** The suspicion counter of one result. */
export const suspicionsWith = (result: SuspicionResult) => Metric.withAttributes(suspicions, { result })

/** Peers suspected now. */
export const suspectedPeers = Metric.gauge("miroir_peer_suspected_count", {
  description: "Peers DNS lists that this pod suspects now (a probe and the indirect probes failed)"
})

/** Peers held down now. */
export const downPeers = Metric.gauge("miroir_peer_down_count", {
  description: "Peers DNS lists that this pod holds down now: their shards went to the next owners"
})

/** 1 while this pod holds its own shards back, its probes reaching no peer. */
export const selfFenced = Metric.gauge("miroir_self_fenced", {
  description: "1 while this pod holds its own shards back because its probes reach no peer, else 0"
})

/** Lifeguard's local health score: timeouts are multiplied by 1 + it. */
export const localHealth = Metric.gauge("miroir_peer_local_health", {
  description:
    "This pod's local health score (0 healthy, up to 8): its probe and suspicion timeouts are multiplied by 1 + it"
})
