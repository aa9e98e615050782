/**
 * One run in flight per key: a caller that finds a run of its key under way waits for that run's result
 * instead of starting another (the failure detector probes a peer once, however many ask at once).
 */
import { Deferred, Effect, Ref } from "effect"

/** Runs effects one per key at a time, sharing each run's result with those who asked meanwhile. */
export type SingleFlight<K> = <A>(key: K, run: Effect.Effect<A>) => Effect.Effect<A>

/** A fresh {@link SingleFlight}, with nothing in flight. */
export const make = <K>(): Effect.Effect<SingleFlight<K>> =>
  Effect.map(
    Ref.make<ReadonlyMap<K, Deferred.Deferred<any>>>(new Map()),
    (inFlight) => <A>(key: K, run: Effect.Effect<A>) =>
      Effect.gen(function*() {
        const mine = yield* Deferred.make<A>()
        const running = yield* Ref.modify(inFlight, (all) => {
          const found = all.get(key)
          return found === undefined ? [mine, new Map(all).set(key, mine)] : [found as Deferred.Deferred<A>, all]
        })
        if (running !== mine) return yield* Deferred.await(running)
        return yield* run.pipe(Effect.onExit((exit) =>
          Effect.andThen(
            Ref.update(inFlight, (all) => {
              const next = new Map(all)
              next.delete(key)
              return next
            }),
            Deferred.done(mine, exit)
          )
        ))
      })
  )
