/**
 * An application on `@miroir/peer-discovery`: every pod of a Deployment finds its peers in the DNS of a
 * headless Service, takes the shards it owns by rendezvous hashing, and exports the metrics over OTLP.
 */
import { DnsResolver, Metrics, PeerDiscovery, PeerDiscoveryConfig, Rendezvous } from "@miroir/peer-discovery"
import { type Duration, Effect, Layer, Metric, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization } from "effect/observability"

/** The shards the work is split into: every pod computes the same owner for each. */
export const SHARDS = 64

/**
 * Discovery and ownership, still to be given a resolver and settings: {@link OwnershipLive} gives the real
 * ones, a test gives `DnsResolver.layerTest` and `PeerDiscoveryConfig.layerTest`. DNS alone decides who owns
 * what here; an app whose pods can probe each other gives `Rendezvous.layer` a `PeerHealth.layer` instead.
 */
export const Ownership = Rendezvous.layerDnsOnly.pipe(Layer.provideMerge(PeerDiscovery.layer))

/**
 * Ownership in a pod: settings from the environment (`POD_NAME`, `POD_IP` from the Downward API,
 * `MIROIR_*`), peers from the library's DNS client. Building it makes the first lookup.
 */
export const OwnershipLive = Ownership.pipe(
  Layer.provide(DnsResolver.layer),
  Layer.provide(PeerDiscoveryConfig.layer)
)

/** The work: at start and after every change of membership, the shards this pod owns now. */
export const worker = Effect.gen(function*() {
  const rendezvous = yield* Rendezvous.Rendezvous
  yield* rendezvous.shardChanges(SHARDS).pipe(
    Stream.runForEach(({ owned, gained, lost }) =>
      Effect.gen(function*() {
        // The library leaves this gauge to whoever partitions the shards.
        yield* Metric.update(Metrics.ownedShards, owned.length)
        yield* Effect.log(`own ${owned.length} of ${SHARDS} shards (+${gained.length} -${lost.length})`)
      })
    )
  )
})

/** The worker in a fiber of the layer's scope: it stops when the application does. */
export const Worker = Layer.effectDiscard(Effect.forkScoped(worker))

/**
 * Every Effect metric (the library's `miroir_*` among them) pushed as OTLP/HTTP JSON to `url`, a
 * collector's metrics endpoint (`http://collector:4318/v1/metrics`), every `exportInterval` and once
 * more when the application stops.
 */
export const Telemetry = (url: string, exportInterval: Duration.Input = "15 seconds") =>
  OtlpMetrics.layer({ url, exportInterval, resource: { serviceName: "peer-discovery-example" } }).pipe(
    Layer.provide(OtlpSerialization.layerJson),
    Layer.provide(FetchHttpClient.layer)
  )

/** The application: the worker over ownership in a pod, and its metrics exported to `otlpUrl`. */
export const App = (otlpUrl: string) => Layer.mergeAll(Worker.pipe(Layer.provide(OwnershipLive)), Telemetry(otlpUrl))
