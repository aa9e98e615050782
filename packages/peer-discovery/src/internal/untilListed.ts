/** The early lookups of a starting pod, until DNS lists it. */
import { Duration, Effect, Schedule } from "effect"
import type { PeerSet } from "../PeerSet.js"

/** The first wait of {@link untilListed}; it doubles up to {@link UNLISTED_POLL_CAP}. */
const UNLISTED_POLL_BASE = Duration.millis(100)
/** The longest wait between two lookups of {@link untilListed}. */
const UNLISTED_POLL_CAP = Duration.millis(500)
/** How long {@link untilListed} looks before it leaves the pod to the ticks: a pod may be unready that long. */
const UNLISTED_POLL_MAX = Duration.minutes(2)

/**
 * While DNS has never listed this pod (it is starting: it owns nothing yet, see PeerSet.ownershipPeers),
 * looks up sooner than the ticks — after 100 ms, then doubling to every 500 ms, for two minutes at most —
 * so that it sees itself listed before the others see it at their ticks, and its share never lies between
 * them with no owner. `lookup` is the service's `refresh`, so these lookups are serialised with the ticks'.
 */
export const untilListed = <E>(
  current: Effect.Effect<PeerSet>,
  lookup: Effect.Effect<unknown, E>
): Effect.Effect<void> =>
  current.pipe(
    Effect.flatMap((set) => (set.everListed ? Effect.succeed(set) : Effect.andThen(Effect.ignore(lookup), current))),
    Effect.flatMap((set) => (set.everListed ? Effect.void : Effect.fail("unlisted" as const))),
    Effect.retry(
      Schedule.exponential(UNLISTED_POLL_BASE).pipe(
        Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, UNLISTED_POLL_CAP))),
        Schedule.upTo({ duration: UNLISTED_POLL_MAX })
      )
    ),
    Effect.ignore
  )
