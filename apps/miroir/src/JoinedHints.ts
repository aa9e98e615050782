/**
 * The `joined` refresh hints: when DNS first lists this pod, it tells every peer of that view to look up
 * again now (PeerMessaging.hintAll), so that they see it sooner than their next tick; nothing but DNS
 * changes a set. Until DNS lists it, discovery looks itself up sooner than the ticks (PeerDiscovery's
 * `untilListed`): a pod starts before it is ready, and waiting for the next tick (up to 1.2 R) would
 * delay these hints. Their counterpart, the `left` hints, are the leave's (Leave.ts).
 */
import { PeerDiscovery } from "@miroir/peer-discovery"
import { Effect, Layer, Option, Stream } from "effect"
import { AppConfig } from "./AppConfig.js"
import { PeerMessaging } from "./PeerMessaging.js"

/** Waits for the first set in which DNS lists this pod, then tells every peer of it. */
export const send: Effect.Effect<void, never, PeerDiscovery.PeerDiscovery | PeerMessaging> = Effect.gen(function*() {
  const discovery = yield* PeerDiscovery.PeerDiscovery
  const messaging = yield* PeerMessaging
  yield* discovery.refreshes.pipe(
    Stream.filter((set) => set.selfInDns),
    Stream.runHead,
    Effect.flatMap(Option.match({
      onNone: () => Effect.void,
      onSome: (set) => messaging.hintAll("joined", set)
    }))
  )
})

/** {@link send} in a fiber of the layer's scope; nothing when `MIROIR_PEER_HINTS=off`. */
export const layer: Layer.Layer<never, never, AppConfig | PeerDiscovery.PeerDiscovery | PeerMessaging> = Layer
  .effectDiscard(
    Effect.gen(function*() {
      const { peerHints } = yield* AppConfig
      if (peerHints === "on") yield* Effect.forkScoped(send)
    })
  )
