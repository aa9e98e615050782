/** This pod's leave, as discovery records it: the flag on the set, never a lookup. */
import { Effect, SubscriptionRef } from "effect"
import * as PeerSet from "../PeerSet.js"

/**
 * Marks the set `state` as leaving ({@link PeerSet.PeerSet.leaving}) and publishes it; idempotent.
 * `exclusive` runs it with no lookup in flight (the refresher's): a lookup reads the set and writes the
 * next one, which must carry the flag, so an answer in flight may not overwrite it.
 */
export const leave = (
  state: SubscriptionRef.SubscriptionRef<PeerSet.PeerSet>,
  exclusive: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<void> =>
  exclusive(
    Effect.gen(function*() {
      const before = yield* SubscriptionRef.getAndUpdate(state, PeerSet.markLeaving)
      if (before.leaving) return
      yield* Effect.logInfo("this pod is leaving; it owns nothing once DNS no longer lists it").pipe(
        Effect.annotateLogs({ selfInDns: before.selfInDns, peers: before.peers.length })
      )
    })
  )
