/**
 * Refresh hints: a peer telling this pod "look up again now, I expect DNS to list me" (`joined`) or
 * "… no longer to list me" (`left`). A hint never changes a set by itself; it only makes discovery
 * look up sooner, with a short backoff, until DNS agrees with what the hint expects or a bounded budget
 * ends (DNS servers cache, so the first lookup after a hint may still see the old answer). Anyone able
 * to send one can only cause lookups, and those are coalesced and spaced (see {@link HINT_MIN_SPACING}).
 */
import { Duration } from "effect"
import type * as PeerId from "./PeerId.js"
import type * as PeerSet from "./PeerSet.js"

/** What the sender expects DNS to say now. */
export type Kind = "joined" | "left"

/** One hint: the peer it is about, and what it expects. */
export interface Hint {
  readonly kind: Kind
  readonly peer: PeerId.PeerId
}

/**
 * What became of a hint on arrival: `following` (lookups follow until DNS agrees or the budget ends),
 * `pending` (the same hint is followed already: coalesced), `agreed` (this pod's set already agrees, or
 * the hint is about this pod: no lookup), `full` (too many different hints followed at once: dropped;
 * the ticks still come).
 */
export type Result = "following" | "pending" | "agreed" | "full"

/**
 * The first delay between two lookups that follow hints, and the shortest time between any two of
 * them: a flood of hints costs at most one lookup per this period.
 */
export const HINT_MIN_SPACING = Duration.millis(100)

/** The longest delay between two lookups that follow a hint DNS does not confirm yet. */
export const HINT_BACKOFF_CAP = Duration.seconds(1)

/** The longest a hint is followed: past it, only the ticks look up. */
export const HINT_BUDGET_MAX = Duration.seconds(10)

/** Different hints followed at once beyond which new ones are dropped (their memory stays bounded). */
export const MAX_FOLLOWED_HINTS = 64

/** How long one hint is followed at refresh interval `interval`: the interval, at most {@link HINT_BUDGET_MAX}. */
export const budget = (interval: Duration.Duration): Duration.Duration => Duration.min(interval, HINT_BUDGET_MAX)

/** The delay after `delay` in the backoff of lookups following a hint: doubled, at most {@link HINT_BACKOFF_CAP}. */
export const nextDelay = (delay: Duration.Duration): Duration.Duration =>
  Duration.min(Duration.times(delay, 2), HINT_BACKOFF_CAP)

/**
 * Whether `set` already says what `hint` expects (the peer listed for `joined`, absent for `left`). A
 * hint about this pod itself always agrees: this pod counts itself in whatever DNS says.
 */
export const agrees = (hint: Hint, set: PeerSet.PeerSet): boolean =>
  hint.peer === set.self || set.peers.includes(hint.peer) === (hint.kind === "joined")

/** The key under which a hint is coalesced with the same one. */
export const key = (hint: Hint): string => `${hint.kind} ${hint.peer}`
