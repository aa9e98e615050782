/**
 * The Mode A worker, as a real background worker consumes the library: at start and on every change
 * of membership it takes the shards this pod owns (from the OwnershipCache, so that a large shard
 * count neither blocks the event loop nor is computed twice), logs what it gained and lost, and sets
 * `miroir_owned_shards_count`. The work per shard would go where the log line is.
 */
import { Metrics, PeerDiscovery, PeerSet } from "@miroir/peer-discovery"
import { Effect, Layer, Metric, Stream } from "effect"
import { OwnershipCache, ownedBy } from "./OwnershipCache.js"

/** Shards named in one log line; the counts are complete. */
const MAX_LOGGED_SHARDS = 20

/** At most {@link MAX_LOGGED_SHARDS} shards, and how many more there are: log lines stay bounded. */
const listShards = (shards: ReadonlyArray<number>): string =>
  shards.length <= MAX_LOGGED_SHARDS
    ? shards.join(",")
    : `${shards.slice(0, MAX_LOGGED_SHARDS).join(",")},… (+${shards.length - MAX_LOGGED_SHARDS} more)`

/** Runs the worker over `shards` shards in a fiber of the layer's scope. */
export const layer = (shards: number): Layer.Layer<never, never, PeerDiscovery.PeerDiscovery | OwnershipCache> =>
  Layer.effectDiscard(
    Effect.gen(function*() {
      const discovery = yield* PeerDiscovery.PeerDiscovery
      const cache = yield* OwnershipCache
      yield* discovery.refreshes.pipe(
        // Not `membership`: DNS starting or ceasing to list this pod, or its leaving (Leave.ts), changes
        // its shards, not its peers.
        Stream.changesWith(PeerSet.sameOwnership),
        Stream.mapEffect((set) =>
          Effect.map(
            cache.owners(PeerSet.ownershipPeers(set), shards),
            (owners) => ({ set, owned: ownedBy(owners, set.self) })
          )
        ),
        Stream.mapAccum(() => new Set<number>(), (before: Set<number>, { owned, set }) => {
          const now = new Set(owned)
          const gained = owned.filter((shard) => !before.has(shard))
          const lost = [...before].filter((shard) => !now.has(shard)).sort((a, b) => a - b)
          return [now, [{ owned, gained, lost, peers: set.peers.length }]] as const
        }),
        Stream.runForEach(({ gained, lost, owned, peers }) =>
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
                  peers
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
