/**
 * The answer policy: what the result of one lookup does to the set, decided from that result, the set
 * before it and the large shrink held, if any. Pure, so that every rule is tested without a clock; the
 * refresher (refresher.ts) carries the decision out.
 *
 * The rules (DESIGN.md §3): a failed lookup (timeout, SERVFAIL, refused, a truncated answer) never
 * shrinks the set, which is kept and marked stale; NXDOMAIN and no data are answers — no ready pods —
 * and leave only this pod; this pod always counts itself in; an answer that is a large shrink
 * ({@link isLargeShrink}) waits for the next lookup and is applied only when that one agrees (it leaves
 * out every peer the first one left out).
 */
import { Duration, Option, Result } from "effect"
import type { DnsLookupError } from "../DnsLookupError.js"
import type * as PeerId from "../PeerId.js"
import * as PeerSet from "../PeerSet.js"

/** The longest wait for the lookup that confirms a large shrink. */
export const CONFIRMATION_DELAY_MAX = Duration.seconds(1)

/**
 * How long after an answer that is a large shrink the confirming lookup is made: a quarter of the
 * interval, at most {@link CONFIRMATION_DELAY_MAX}. Long enough for a flapping server to flap back,
 * short enough that a real scale-down is applied well within two intervals (at R = 15 s: one second).
 */
export const confirmationDelay = (interval: Duration.Duration): Duration.Duration =>
  Duration.min(Duration.times(interval, 0.25), CONFIRMATION_DELAY_MAX)

/**
 * Whether replacing `previous` by `next` is a large shrink: it removes more than half of the peers
 * (this pod included in the count), or it leaves this pod alone after it had peers. Such an answer is
 * applied only once the next lookup agrees. From a set of 1 nothing is large; removing 1 of 3 or 2 of 4
 * is not; removing 2 of 3, 3 of 4, or the only other peer is.
 */
export const isLargeShrink = (previous: PeerSet.PeerSet, next: PeerSet.PeerSet): boolean => {
  if (previous.peers.length <= 1) return false
  const kept = new Set(next.peers)
  const removed = previous.peers.filter((id) => !kept.has(id)).length
  return removed * 2 > previous.peers.length || next.peers.length === 1
}

/** A large shrink waiting for the next lookup: the ids it would remove, and its sizes for the logs. */
export interface HeldShrink {
  readonly removed: ReadonlySet<PeerId.PeerId>
  /** The size of the set it would shrink. */
  readonly peers: number
  /** The size of the set it would leave. */
  readonly answered: number
}

/** The peers an answer listed, and the addresses it gave for them. */
export interface Listed {
  readonly ids: ReadonlyArray<PeerId.PeerId>
  readonly addresses: ReadonlyMap<PeerId.PeerId, ReadonlyArray<string>>
}

/**
 * What the policy decides. `unconfirmed` is the held shrink this lookup did not confirm (it listed a
 * peer the held one left out, or it failed): that shrink is dropped, never applied.
 */
export type Decision =
  /** The answer becomes the set. */
  | {
    readonly _tag: "Apply"
    readonly set: PeerSet.PeerSet
    readonly unconfirmed: Option.Option<HeldShrink>
  }
  /** The answer is a large shrink: the set stays as it was, and the shrink waits for the next lookup. */
  | {
    readonly _tag: "Hold"
    readonly shrink: HeldShrink
    readonly unconfirmed: Option.Option<HeldShrink>
  }
  /** The answer agrees with the held shrink: it becomes the set. */
  | {
    readonly _tag: "Confirm"
    readonly set: PeerSet.PeerSet
    readonly confirmed: HeldShrink
  }
  /** The lookup failed: the set is kept, marked stale. */
  | {
    readonly _tag: "MarkStale"
    readonly set: PeerSet.PeerSet
    readonly error: DnsLookupError
    readonly unconfirmed: Option.Option<HeldShrink>
  }

/** What the policy is given: one lookup's result, answered at `at`, after the set `previous`. */
export interface Input {
  readonly identity: PeerId.SelfIdentity
  readonly previous: PeerSet.PeerSet
  /** The large shrink an earlier answer left waiting for this lookup, if any. */
  readonly held: Option.Option<HeldShrink>
  /** The peers listed, or the lookup's error: NXDOMAIN and no data are answers that list none. */
  readonly result: Result.Result<Listed, DnsLookupError>
  readonly at: Date
}

/** The decision for one lookup's result. */
export const decide = ({ at, held, identity, previous, result }: Input): Decision => {
  if (Result.isFailure(result) && !result.failure.isAnswer) {
    return { _tag: "MarkStale", set: PeerSet.markStale(previous), error: result.failure, unconfirmed: held }
  }
  // NXDOMAIN and no data list no pod.
  const listing = Result.getOrElse(result, (): Listed => ({ ids: [], addresses: new Map() }))
  const current = PeerSet.fromAnswer(identity, listing.ids, at, previous, listing.addresses)
  const listed = new Set(current.peers)
  if (Option.isSome(held) && [...held.value.removed].every((id) => !listed.has(id))) {
    return { _tag: "Confirm", set: current, confirmed: held.value }
  }
  if (isLargeShrink(previous, current)) {
    const removed = new Set(previous.peers.filter((id) => !listed.has(id)))
    return {
      _tag: "Hold",
      shrink: { removed, peers: previous.peers.length, answered: current.peers.length },
      unconfirmed: held
    }
  }
  return { _tag: "Apply", set: current, unconfirmed: held }
}

/** The shrink held for the next lookup after `decision`: only the one it holds; any earlier one ended. */
export const heldAfter = (decision: Decision): Option.Option<HeldShrink> =>
  decision._tag === "Hold" ? Option.some(decision.shrink) : Option.none()
