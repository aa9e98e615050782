/**
 * This pod's leave: once DNS no longer lists it (a bounded wait), it tells its peers (`left` refresh
 * hints, PeerHints.ts) and then resigns its shards (PeerDiscovery's `leave`), which pass to the peers the
 * hints just made look up. It runs once, started by whoever comes first: the chart's preStop hook
 * (`GET /leave`, at the very start of termination, when Kubernetes removes the pod from the endpoints)
 * or, for a pod without the hook, the layer's finalizer at SIGTERM; the other joins it.
 *
 * Why at the preStop: the kubelet sends SIGTERM only after the hook, so a pod that waited for SIGTERM
 * told its peers a whole preStop delay (5 s by default) after DNS had dropped it, while they still left
 * its shards to it and the sampler of a rolling update counted them unowned.
 */
import { Context, Deferred, Effect, ExecutionStrategy, Ref, Scope } from "effect"

/** What a leave did. */
export interface Outcome {
  /** `left`: the hints went out and the pod resigned; `off`: hints are off (`MIROIR_PEER_HINTS=off`), nothing was done. */
  readonly result: "left" | "off"
  /** Whether DNS still listed this pod at the end (its bounded wait ran out): it resigns once DNS drops it. */
  readonly selfInDns: boolean
}

/** The leave as a service. */
export interface Service {
  /** Starts the leave, or joins the one under way or over; succeeds with its outcome. Bounded by the leave's own bounds. */
  readonly leave: Effect.Effect<Outcome>
}

/** This pod's leave, as the HTTP API's `GET /leave` and the shutdown use it. */
export class Leave extends Context.Tag("@miroir/miroir/Leave")<Leave, Service>() {}

/**
 * The service over `procedure`, which must be bounded and must not fail: it runs once, in a fiber of a
 * scope of its own, so that a caller that goes away (the kubelet closing its connection) neither stops it
 * nor leaves the next caller without it; interruptible even when a finalizer starts it, so that its own
 * timeouts work. The scope's finalizer runs the leave too (or waits for the one
 * under way): a pod without the preStop hook still leaves at SIGTERM. The procedure's scope is made before
 * that finalizer is added, so it is closed after it, once the procedure is over.
 */
export const make = (procedure: Effect.Effect<Outcome>): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const procedureScope = yield* Scope.fork(yield* Scope.Scope, ExecutionStrategy.sequential)
    const started = yield* Ref.make(false)
    const done = yield* Deferred.make<Outcome>()
    const leave = Ref.getAndSet(started, true).pipe(
      Effect.flatMap((already) =>
        already
          ? Effect.void
          : Effect.forkIn(Effect.intoDeferred(Effect.interruptible(procedure), done), procedureScope)
      ),
      Effect.zipRight(Deferred.await(done))
    )
    yield* Effect.addFinalizer(() => Effect.asVoid(leave))
    return { leave }
  })

/**
 * The service of a pod whose hints are off: nothing to do, since its peers would not know to look up and
 * resigning would leave its shards unowned until their next tick.
 */
export const off = (selfInDns: Effect.Effect<boolean>): Service => ({
  leave: Effect.map(selfInDns, (listed) => ({ result: "off", selfInDns: listed }))
})
