/**
 * Publishes the digest of this pod's view (PeerSet.digest) as the gauge `miroir_peer_view_digest`, at
 * start and on every change of membership, so that Prometheus can count the distinct views across the
 * pods: `count(count_values("digest", miroir_peer_view_digest{…}))` is 1 when every pod agrees.
 */
import { PeerDiscovery, PeerSet } from "@miroir/peer-discovery"
import { Effect, Layer, Metric, Stream } from "effect"
import * as AppMetrics from "./AppMetrics.js"

/** Keeps the gauge current in a fiber of the layer's scope. */
export const layer: Layer.Layer<never, never, PeerDiscovery.PeerDiscovery> = Layer.effectDiscard(
  Effect.gen(function*() {
    const discovery = yield* PeerDiscovery.PeerDiscovery
    yield* discovery.membership.pipe(
      Stream.runForEach((set) => Metric.update(AppMetrics.viewDigest, PeerSet.digestNumber(PeerSet.digest(set)))),
      Effect.forkScoped
    )
  })
)
