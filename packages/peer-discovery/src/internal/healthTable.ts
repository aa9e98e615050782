/**
 * The failure detector's verdicts as pure data: which listed peers are suspected or held down, how slow
 * this pod itself is (Lifeguard's local health), and whether its probes reach nobody. Events in, a table
 * out; no clock, no effects: `failureDetector.ts` feeds it what its probes found and when.
 *
 * The rules, each a lesson of SWIM and Lifeguard:
 * - a peer is **suspected** when a probe of it failed and the peers asked to probe it (indirect probes)
 *   answered that they could not reach it either (nacks): a failed probe alone may be this pod's fault;
 * - a suspected peer is **held down** once it has failed {@link DOWN_AFTER_FAILURES} probes and one of
 *   them was sent the suspicion timeout (stretched by this pod's local health: a pod that is itself slow
 *   suspects less) or more after the first unanswered one: a peer paused for less than that answers the
 *   later probe when it resumes. The first unanswered probe may be the asking pod's, when a peer asked this
 *   one to probe (its silence is then as old as the asker says, at most the suspicion timeout);
 * - any answer clears both at once: a peer that answers again gets its shards back;
 * - a probe whose answer was waited for much longer than its timeout was not the peer's fault but this
 *   pod's (its event loop or its cgroup stalled): it counts as neither an answer nor a failure, and raises
 *   the local health score;
 * - a round in which nobody answered, neither the peer nor a helper, suspects nobody and,
 *   {@link FENCE_AFTER_ROUNDS} in a row over the self-fence time, fences this pod: it holds its own
 *   shards back, as its peers have held it down by then — unless a peer pinged it within that time: the
 *   peers that reach it count it alive and leave its shards to it (it cannot reach them, they reach it);
 * - every answer to a ping says which peers the answering pod holds down: when most of the peers that
 *   answered within the self-fence time hold this pod down, it fences itself too, although it reaches them
 *   (they cannot reach it): their shards and its own would otherwise be owned twice for as long as that
 *   lasts. It is fenced no longer once most of them count it alive again.
 */
import type { PeerId } from "../PeerId.js"
import { compareIds, sameIds } from "./order.js"

/** What the detector publishes (PeerHealth's `Health`): the peers suspected and held down, sorted, and whether this pod is fenced. */
export interface Verdicts {
  readonly suspected: ReadonlyArray<PeerId>
  readonly down: ReadonlyArray<PeerId>
  readonly fenced: boolean
}

/** Every peer alive, this pod not fenced. */
export const noVerdicts: Verdicts = { suspected: [], down: [], fenced: false }

/** Whether two verdicts are the same. */
export const sameVerdicts = (a: Verdicts, b: Verdicts): boolean =>
  a.fenced === b.fenced && sameIds(a.suspected, b.suspected) && sameIds(a.down, b.down)

/** How a peer stands, when it is not alive. */
export type Status = "suspected" | "down"

/**
 * A peer that is not alive: since when (ms) it is in its status (for a suspect: when the first probe it
 * did not answer was sent), and the probes it failed since suspected.
 */
export interface Entry {
  readonly status: Status
  readonly since: number
  readonly failures: number
}

/** The verdicts of one pod. */
export interface Table {
  /** Peers suspected or down; a peer absent from it is alive. */
  readonly entries: ReadonlyMap<PeerId, Entry>
  /** Lifeguard's local health score, from 0 (healthy) to {@link LOCAL_HEALTH_MAX}: timeouts are multiplied by 1 + it. */
  readonly localHealth: number
  /** Rounds in a row in which nobody answered, and when the first of them ended (ms). */
  readonly isolated: { readonly rounds: number; readonly since: number }
  /** When a peer last pinged this pod (ms). */
  readonly pingedAt: number
  /** By peer, what its last answer said of this pod (held down or not) and when (ms). */
  readonly reports: ReadonlyMap<PeerId, Report>
}

/** What a peer's answer said of this pod: whether it holds this pod down, and when it answered (ms). */
export interface Report {
  readonly holdsDown: boolean
  readonly at: number
}

/** The highest local health score (memberlist's awareness maximum). */
export const LOCAL_HEALTH_MAX = 8

/** Failed probes of a suspected peer, the first included, before it may be held down. */
export const DOWN_AFTER_FAILURES = 2

/** Rounds in a row that reached nobody before this pod may fence itself. */
export const FENCE_AFTER_ROUNDS = 3

/** Peers DNS must list beside this pod for it to fence itself: with one, it cannot tell which of the two is cut off. */
export const FENCE_MIN_OTHERS = 2

/** A table with every peer alive. */
export const empty: Table = {
  entries: new Map(),
  localHealth: 0,
  isolated: { rounds: 0, since: 0 },
  pingedAt: Number.NEGATIVE_INFINITY,
  reports: new Map()
}

/** What one event changed about a peer, for the metrics and logs. */
export type Transition = "suspected" | "refuted" | "down" | "back" | "none"

const withEntries = (table: Table, entries: ReadonlyMap<PeerId, Entry>): Table => ({ ...table, entries })

/** Forgets the peers DNS no longer lists: DNS alone says who exists. */
export const keepListed = (table: Table, listed: ReadonlyArray<PeerId>): Table => {
  const keep = new Set(listed)
  const kept = <V>(all: ReadonlyMap<PeerId, V>) =>
    [...all.keys()].every((id) => keep.has(id)) ? all : new Map([...all].filter(([id]) => keep.has(id)))
  const entries = kept(table.entries)
  const reports = kept(table.reports)
  return entries === table.entries && reports === table.reports ? table : { ...table, entries, reports }
}

/** A peer of this pod's view pinged it at `at`: it is reached. */
export const pinged = (table: Table, at: number): Table => ({ ...table, pingedAt: Math.max(table.pingedAt, at) })

/** `peer` answered at `at`, holding this pod down or not. */
export const reported = (table: Table, peer: PeerId, holdsDown: boolean, at: number): Table => ({
  ...table,
  reports: new Map(table.reports).set(peer, { holdsDown, at })
})

/**
 * Whether most of the peers that answered this pod within `windowMs` before `at` hold it down: strictly
 * more of them than hold it alive, and at least two when DNS lists `others` ≥ 2 peers beside it (one odd
 * answer is first checked with more peers, rather than fencing this pod for the moment that takes).
 */
export const heldDownByPeers = (table: Table, at: number, windowMs: number, others: number): boolean => {
  let down = 0
  let alive = 0
  for (const report of table.reports.values()) {
    if (at - report.at > windowMs) continue
    if (report.holdsDown) down++
    else alive++
  }
  return down > alive && down >= Math.min(FENCE_MIN_OTHERS, others)
}

/** `peer` answered (directly or through a helper): alive again. */
export const answered = (table: Table, peer: PeerId): [Transition, Table] => {
  const entry = table.entries.get(peer)
  if (entry === undefined) return ["none", table]
  const entries = new Map(table.entries)
  entries.delete(peer)
  return [entry.status === "down" ? "back" : "refuted", withEntries(table, entries)]
}

/** Someone answered this pod (a peer, or a helper's nack): it is not cut off, and a little healthier. */
export const reached = (table: Table): Table =>
  table.isolated.rounds === 0 && table.localHealth === 0
    ? table
    : { ...table, localHealth: Math.max(0, table.localHealth - 1), isolated: { rounds: 0, since: 0 } }

/** A probe of this pod's waited far past its timeout: this pod was slow, not the peer. */
export const slow = (table: Table): Table => ({
  ...table,
  localHealth: Math.min(LOCAL_HEALTH_MAX, table.localHealth + 1)
})

/**
 * A round at `at` in which nobody answered this pod. Not a sign of slowness by itself (the timeouts stay as
 * they are, so that a pod cut off fences itself in stated time): it suspects nobody, as no helper answered.
 */
export const unreached = (table: Table, at: number): Table => ({
  ...table,
  isolated: { rounds: table.isolated.rounds + 1, since: table.isolated.rounds === 0 ? at : table.isolated.since }
})

/**
 * A probe of `peer` sent at `sentAt` failed, confirmed by others (nacks, or no one to ask): an alive peer
 * becomes suspected, silent since `silentSince` (the first unanswered probe's sending, this one's by
 * default); a suspected one counts the failure and is held down once it has failed
 * {@link DOWN_AFTER_FAILURES} probes, one sent `suspicionTimeoutMs` (already stretched by the local health)
 * or more after its silence began.
 */
export const failed = (
  table: Table,
  peer: PeerId,
  sentAt: number,
  suspicionTimeoutMs: number,
  silentSince: number = sentAt
): [Transition, Table] => {
  const entry = table.entries.get(peer)
  if (entry?.status === "down") return ["none", table]
  const next: Entry = entry === undefined
    ? { status: "suspected", since: Math.min(silentSince, sentAt), failures: 1 }
    : { ...entry, failures: entry.failures + 1 }
  const due = next.failures >= DOWN_AFTER_FAILURES && sentAt - next.since >= suspicionTimeoutMs
  const settled: Entry = due ? { status: "down", since: sentAt, failures: next.failures } : next
  return [
    due ? "down" : entry === undefined ? "suspected" : "none",
    withEntries(table, new Map(table.entries).set(peer, settled))
  ]
}

/** When (ms) a probe of suspected `entry` sent then or later may hold it down, with `suspicionTimeoutMs`. */
export const dueAt = (entry: Entry, suspicionTimeoutMs: number): number => entry.since + suspicionTimeoutMs

/** The timeout `ms` stretched by the local health: ×(1 + score). */
export const stretched = (table: Table, ms: number): number => ms * (1 + table.localHealth)

/**
 * Whether this pod holds its own shards back at `at`: either it is cut off — {@link FENCE_AFTER_ROUNDS}
 * rounds in a row reached nobody, the first `selfFenceAfterMs` ago or more, no peer pinged it for as long,
 * and DNS lists `others` peers beside it, at least {@link FENCE_MIN_OTHERS} — or most of the peers that
 * answered it within `selfFenceAfterMs` hold it down.
 */
export const fenced = (table: Table, at: number, selfFenceAfterMs: number, others: number): boolean =>
  (others >= FENCE_MIN_OTHERS && table.isolated.rounds >= FENCE_AFTER_ROUNDS &&
    at - table.isolated.since >= selfFenceAfterMs && at - table.pingedAt >= selfFenceAfterMs) ||
  heldDownByPeers(table, at, selfFenceAfterMs, others)

/** The peers of `table` in `status`, sorted. */
export const inStatus = (table: Table, status: Status): ReadonlyArray<PeerId> =>
  [...table.entries].flatMap(([id, entry]) => (entry.status === status ? [id] : [])).sort(compareIds)
