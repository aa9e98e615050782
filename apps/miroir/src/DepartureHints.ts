/**
 * The `left` refresh hints about a crashed peer: when DNS drops a peer shortly after this pod's probe of it
 * failed, or drops it before this pod's turn to probe it and that last probe fails (the failure detector's
 * `departures`: the crash seen first-hand), this pod tells every other peer to look DNS up now. DNS drops
 * a crashed pod within a fraction of a second, but each pod would otherwise learn it only at its own turn
 * to probe the dead pod (one peer a second, in a rotation: up to N − 1 seconds for the last one) or at its
 * next tick. A hint only makes a peer look up: nothing but DNS and the
 * peer's own probes change its set or its verdicts.
 */
import { PeerDiscovery, PeerHealth } from "@miroir/peer-discovery"
import { Effect, Layer, Stream } from "effect"
import { AppConfig } from "./AppConfig.js"
import { PeerMessaging } from "./PeerMessaging.js"

/** Tells every peer of each departure the failure detector saw first-hand, for as long as it runs. */
export const send: Effect.Effect<void, never, PeerDiscovery.PeerDiscovery | PeerHealth.PeerHealth | PeerMessaging> =
  Effect.gen(function*() {
    const discovery = yield* PeerDiscovery.PeerDiscovery
    const health = yield* PeerHealth.PeerHealth
    const messaging = yield* PeerMessaging
    yield* health.departures.pipe(
      Stream.runForEach((departed) =>
        Effect.flatMap(discovery.current, (set) => messaging.hintAll("left", set, departed))
      )
    )
  })

/** {@link send} in a fiber of the layer's scope; nothing when `MIROIR_PEER_HINTS=off`. */
export const layer: Layer.Layer<
  never,
  never,
  AppConfig | PeerDiscovery.PeerDiscovery | PeerHealth.PeerHealth | PeerMessaging
> = Layer.effectDiscard(
  Effect.gen(function*() {
    const { peerHints } = yield* AppConfig
    if (peerHints === "on") yield* Effect.forkScoped(send)
  })
)
