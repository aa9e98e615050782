/**
 * The shard worker, as a real background worker consumes the library: it follows this pod's shards
 * (`Rendezvous.shardChanges`: at start and on every change of what they are computed over), logs what
 * it gained and lost, and sets `miroir_owned_shards_count`. The work per shard would go where the log
 * line is. The owners come from the Rendezvous service, which computes them once per view for every
 * reader (this worker, `/ownership`, the audit) and never blocks the event loop for long.
 */
import { Metrics, Rendezvous } from "@miroir/peer-discovery"
import { Effect, Layer, Metric, Stream } from "effect"
import { AppConfig } from "./AppConfig.js"

/** Shards named in one log line; the counts are complete. */
const MAX_LOGGED_SHARDS = 20

/** At most {@link MAX_LOGGED_SHARDS} shards, and how many more there are: log lines stay bounded. */
const listShards = (shards: ReadonlyArray<number>): string =>
  shards.length <= MAX_LOGGED_SHARDS
    ? shards.join(",")
    : `${shards.slice(0, MAX_LOGGED_SHARDS).join(",")},… (+${shards.length - MAX_LOGGED_SHARDS} more)`

/** Sets the gauge and logs one change of this pod's shards. */
const record = (shards: number) => ({ gained, lost, owned, view }: Rendezvous.ShardOwnership) =>
  Metric.update(Metrics.ownedShards, owned.length).pipe(
    Effect.andThen(
      Effect.logInfo("shard ownership changed").pipe(
        Effect.annotateLogs({
          owned: owned.length,
          shards,
          gained: listShards(gained),
          lost: listShards(lost),
          gainedCount: gained.length,
          lostCount: lost.length,
          peers: view.set.peers.length
        })
      )
    )
  )

/** Runs the worker over the pod's shards (`MIROIR_SHARDS`) in a fiber of the layer's scope. */
export const layer: Layer.Layer<never, never, AppConfig | Rendezvous.Rendezvous> = Layer.effectDiscard(
  Effect.gen(function*() {
    const { shards } = yield* AppConfig
    const rendezvous = yield* Rendezvous.Rendezvous
    yield* rendezvous.shardChanges(shards).pipe(
      Stream.runForEach(record(shards)),
      Effect.annotateLogs({ service: "shard-worker" }),
      Effect.forkScoped
    )
  })
)
