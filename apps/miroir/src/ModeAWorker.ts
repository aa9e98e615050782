/**
 * The Mode A worker, as a real background worker consumes the library: at start and on every change
 * of membership it recomputes the shards this pod owns, logs what it gained and lost, and sets
 * `miroir_owned_shards_count`. The work per shard would go where the log line is.
 */
import { Metrics, Rendezvous } from "@miroir/peer-discovery"
import { Effect, Layer, Metric, Stream } from "effect"

/** Runs the worker over `shards` shards in a fiber of the layer's scope. */
export const layer = (shards: number): Layer.Layer<never, never, Rendezvous.Rendezvous> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const rendezvous = yield* Rendezvous.Rendezvous
      yield* rendezvous.shardChanges(shards).pipe(
        Stream.runForEach(({ gained, lost, owned, peers }) =>
          Metric.set(Metrics.ownedShards, owned.length).pipe(
            Effect.zipRight(
              Effect.logInfo("shard ownership changed").pipe(
                Effect.annotateLogs({
                  owned: owned.length,
                  shards,
                  gained: gained.join(","),
                  lost: lost.join(","),
                  peers: peers.peers.length
                })
              )
            )
          )
        ),
        Effect.annotateLogs({ service: "mode-a-worker" }),
        Effect.forkScoped
      )
    })
  )
