/**
 * The set of peers one pod sees: sorted, without duplicates, and always with itself in it, plus what
 * tells how fresh it is. Pure data and functions.
 */
import { createHash } from "node:crypto"
import { Option } from "effect"
import { compareIds, sameIds } from "./internal/order.js"
import type { PeerId, SelfIdentity } from "./PeerId.js"

/** The peers one pod sees. */
export interface PeerSet {
  /** This pod's id: the id DNS lists it under, or its fallback while DNS does not list it. */
  readonly self: PeerId
  /** Every peer, this pod included, sorted and without duplicates. */
  readonly peers: ReadonlyArray<PeerId>
  /** Whether the last answer listed this pod. */
  readonly selfInDns: boolean
  /** Whether an answer since this pod started has listed it (it is not starting any more). */
  readonly everListed: boolean
  /**
   * Whether this pod is leaving (PeerDiscovery's `leave`: it has told its peers, by refresh hints, that
   * DNS no longer lists it). Kept by every later answer: a pod that leaves does not come back.
   */
  readonly leaving: boolean
  /**
   * Where DNS says the listed peers are, for those it said: the addresses of the SRV answer's additional
   * section (CoreDNS sends the A/AAAA records of a headless Service's targets there), kept from an
   * earlier answer for a peer still listed when a later one left them out. What a StatefulSet hostname or
   * a pod name stands for, without a lookup of its own; a dashed-IP id says its address itself.
   */
  readonly addresses: ReadonlyMap<PeerId, ReadonlyArray<string>>
  /** When DNS last answered (records, NXDOMAIN or no data); none before the first answer. */
  readonly refreshedAt: Option.Option<Date>
  /** True while the lookups since the last answer have failed: the peers are the last good ones. */
  readonly stale: boolean
}

/** The set of a pod that knows nothing yet: only itself, never refreshed. */
export const initial = (identity: SelfIdentity): PeerSet => ({
  self: identity.fallback,
  peers: Object.freeze([identity.fallback]),
  selfInDns: false,
  everListed: false,
  leaving: false,
  addresses: new Map(),
  refreshedAt: Option.none(),
  stale: false
})

/**
 * The set from the ids of one DNS answer (possibly none), answered at `at`, after the set `previous`, with
 * the addresses the answer gave for them.
 */
export const fromAnswer = (
  identity: SelfIdentity,
  listed: Iterable<PeerId>,
  at: Date,
  previous?: PeerSet,
  addresses: ReadonlyMap<PeerId, ReadonlyArray<string>> = new Map()
): PeerSet => {
  const unique = [...new Set(listed)].sort(compareIds)
  const listedSelf = unique.find((id) => identity.aliases.has(id))
  const self = listedSelf ?? identity.fallback
  // Frozen: nobody may change a set, and Rendezvous then need not compare the ids on every call.
  const peers = Object.freeze(listedSelf === undefined ? [...unique, self].sort(compareIds) : unique)
  const selfInDns = listedSelf !== undefined
  return {
    self,
    peers,
    selfInDns,
    everListed: selfInDns || previous?.everListed === true,
    leaving: previous?.leaving === true,
    addresses: new Map(peers.flatMap((id) => {
      const given = addresses.get(id) ?? previous?.addresses.get(id)
      return given === undefined || given.length === 0 ? [] : [[id, given] as const]
    })),
    refreshedAt: Option.some(at),
    stale: false
  }
}

/**
 * The peers ownership is computed over: every peer, except this pod while DNS lists others but not it
 * and it is either starting (DNS has never listed it) or leaving ({@link PeerSet.leaving}).
 *
 * Starting: every other pod computes without it, so if it counted itself in it would own shards that they
 * own too, from its first lookup until it is published and they see it. Once listed it counts itself in
 * until it stops, listed or not: an unready pod, or a leaving one whose peers were not told, keeps its
 * shards while the others take them over at their pace, an overlap of owners rather than a gap. Leaving:
 * once its `left` hints are sent the peers look up at once, so it resigns instead of holding its shards
 * until it exits, and they pass to the peers within the milliseconds of those lookups. While DNS lists it
 * (it was not dropped yet) it keeps them whatever it says: the others still count it in. While DNS lists
 * nobody (no answer yet, NXDOMAIN, no data) it is the only peer and owns everything: a pod always counts
 * itself in as a member (`peers`). OwnershipView applies it once per view, and keeps the array.
 */
export const ownershipPeers = (set: PeerSet): ReadonlyArray<PeerId> =>
  set.selfInDns || set.peers.length === 1 || (set.everListed && !set.leaving)
    ? set.peers
    : Object.freeze(set.peers.filter((id) => id !== set.self))

/** The same set, marked as leaving ({@link PeerSet.leaving}). */
export const markLeaving = (set: PeerSet): PeerSet => (set.leaving ? set : { ...set, leaving: true })

/** The same set, marked as kept past a failed lookup. */
export const markStale = (set: PeerSet): PeerSet => (set.stale ? set : { ...set, stale: true })

/** Whether two sets have the same members and the same self. */
export const sameMembers = (a: PeerSet, b: PeerSet): boolean => a.self === b.self && sameIds(a.peers, b.peers)

/** What changed between two sets of peers. */
export interface Difference {
  /** Ids in the newer set only, sorted. */
  readonly joined: ReadonlyArray<PeerId>
  /** Ids in the older set only, sorted. */
  readonly left: ReadonlyArray<PeerId>
}

/** The ids that joined and left from `previous` to `current`. */
export const difference = (previous: PeerSet, current: PeerSet): Difference => {
  const before = new Set(previous.peers)
  const after = new Set(current.peers)
  return {
    joined: current.peers.filter((id) => !before.has(id)),
    left: previous.peers.filter((id) => !after.has(id))
  }
}

/** A change of membership, as published to consumers. */
export interface MembershipChange extends Difference {
  readonly previous: PeerSet
  readonly current: PeerSet
}

/** Hex characters in a {@link digest}: 32 bits, enough to tell a handful of views apart at a glance. */
export const DIGEST_HEX_LENGTH = 8

/**
 * A short digest of a view: the first {@link DIGEST_HEX_LENGTH} hex characters of the SHA-256 of the
 * ids, sorted, joined by newlines. Every pod computes it the same way, so pods that agree on their
 * peers show the same digest (in `/peers` and the metrics), and pods that do not, different ones.
 * `ids` must be sorted as a {@link PeerSet}'s peers are.
 */
export const digestOf = (ids: ReadonlyArray<string>): string =>
  createHash("sha256").update(ids.join("\n")).digest("hex").slice(0, DIGEST_HEX_LENGTH)

/** The {@link digestOf} of a set's peers. */
export const digest = (set: PeerSet): string => digestOf(set.peers)

/**
 * The digest as a number (its 32 bits, unsigned), for a gauge: a metric value can be compared across
 * pods by PromQL (`count_values`), where a label per digest would leave a series behind at every change.
 */
export const digestNumber = (hex: string): number => Number.parseInt(hex, 16)
