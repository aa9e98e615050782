/**
 * Departures seen first-hand: the peers DNS dropped shortly after this pod's probe of them failed (a crash),
 * and those DNS dropped before this pod's turn to probe them that did not answer that last probe (this pod's
 * own lookup, a tick's or a hint's, saw the crash first). The failure detector records its failed probes
 * here; the pod service tells its peers of each departure (`left` refresh hints), so that each looks DNS up
 * now rather than at its own probe of the dead pod.
 */
import { Clock, Effect, PubSub, Ref, type Scope, Stream } from "effect"
import type * as PeerDiscovery from "../PeerDiscovery.js"
import type { PeerId } from "../PeerId.js"
import { logDefect } from "./logDefect.js"

/** How long after its failed probe a peer's departure from DNS counts as seen first-hand (a hint's longest budget). */
const DEPARTURE_WINDOW_MS = 10_000

/** Departures kept for subscribers that are slow to read them; past it the oldest are dropped. */
const DEPARTURES_KEPT = 64

/** What the detector gets: where to record a failed probe, and the departures seen so. */
export interface Departures {
  /** This pod's probe of `peer` failed just now. */
  readonly probeFailed: (peer: PeerId) => Effect.Effect<void>
  /** `peer`, which DNS dropped already, did not answer the probe of its last turn: a departure now. */
  readonly lastTurnFailed: (peer: PeerId) => Effect.Effect<void>
  /**
   * The peers DNS dropped within the window after a failed probe of them, and those whose last turn's probe
   * failed, from the moment of subscription.
   */
  readonly stream: Stream.Stream<PeerId>
}

/** Watches `discovery`'s changes for departures, in a fiber of the current scope. */
export const make = (discovery: PeerDiscovery.Service): Effect.Effect<Departures, never, Scope.Scope> =>
  Effect.gen(function*() {
    /** When this pod's probe of a peer last failed, by peer. */
    const failedAt = yield* Ref.make<ReadonlyMap<PeerId, number>>(new Map())
    const departures = yield* PubSub.sliding<PeerId>(DEPARTURES_KEPT)
    const watch = discovery.changes.pipe(
      Stream.runForEach((change) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const seen = yield* Ref.modify(failedAt, (all) => {
            const kept = new Map([...all].filter(([, at]) => now - at <= DEPARTURE_WINDOW_MS))
            const departed = change.left.filter((id) => kept.has(id))
            for (const id of departed) kept.delete(id)
            return [departed, kept] as const
          })
          yield* PubSub.publishAll(departures, seen)
        })
      ),
      logDefect("the failure detector's watch of departures died; crashes are no longer told to peers")
    )
    yield* Effect.forkScoped(watch)
    return {
      probeFailed: (peer) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.update(failedAt, (all) => new Map(all).set(peer, at))),
      lastTurnFailed: (peer) => Effect.asVoid(PubSub.publish(departures, peer)),
      stream: Stream.fromPubSub(departures)
    }
  })
