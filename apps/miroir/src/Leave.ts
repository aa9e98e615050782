/**
 * This pod's leave: once DNS no longer lists it (a bounded wait), it tells its peers (`left` refresh
 * hints, PeerHints.ts) and then resigns its shards (PeerDiscovery's `leave`), which pass to the peers the
 * hints just made look up. Only the pod itself starts it: the chart's preStop hook (`miroir leave`, an
 * exec in the container that asks the admin listener on the pod's loopback, AdminApi/), at the very start
 * of termination, when Kubernetes removes the pod from the endpoints; or, for a pod without the hook, the
 * layer's finalizer at SIGTERM. Nothing on the network-facing API can start it.
 *
 * Why at the preStop: the kubelet sends SIGTERM only after the hook, so a pod that waited for SIGTERM
 * told its peers a whole preStop delay (5 s by default) after DNS had dropped it, while they still left
 * its shards to it and the sampler of a rolling update counted them unowned.
 *
 * A leave is spent only when it completes (`left`). One that finds DNS still listing the pod when its wait
 * ends sends nothing and resigns nothing (`listed`): receivers of a `left` hint would only look up and find
 * the pod listed, and a pod marked leaving for good would later, at its real termination, skip both the
 * wait and the hints (an outsider's call once left 27 of 64 shards unowned for 12.6 s that way). The next
 * call, a later preStop or the SIGTERM finalizer, runs it again.
 */
import { Context, Deferred, Effect, Exit, Ref, Scope } from "effect"

/** What a leave did. */
export interface Outcome {
  /**
   * `left`: DNS no longer listed this pod, the hints went out and the pod resigned (done for good; later
   * calls answer this at once). `listed`: DNS still listed it when the bounded wait ended, so nothing was
   * sent or resigned and the leave is not spent (the next call runs it again). `off`: hints are off
   * (`MIROIR_PEER_HINTS=off`), nothing was done.
   */
  readonly result: "left" | "listed" | "off"
  /** Whether DNS listed this pod at the end. */
  readonly selfInDns: boolean
}

/** The leave as a service. */
export interface Service {
  /**
   * Starts the leave, joins the one under way, or answers the one that completed (`left`); succeeds with
   * its outcome. Bounded by the leave's own bounds.
   */
  readonly leave: Effect.Effect<Outcome>
}

/** This pod's leave, as the admin listener's `POST /leave` and the shutdown use it. */
export class Leave extends Context.Service<Leave, Service>()("@miroir/miroir/Leave") {}

/** Where the leave stands: nothing under way (never run, or the last run found the pod listed), a run, or done. */
type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Running"; readonly done: Deferred.Deferred<Outcome> }
  | { readonly _tag: "Left"; readonly outcome: Outcome }

const idle: State = { _tag: "Idle" }

/**
 * The service over `procedure`, which must be bounded and must not fail: one run at a time, in a fiber of
 * a scope of its own, so that a caller that goes away (the kubelet ending the hook) neither stops it nor
 * leaves the next caller without it; interruptible even when a finalizer starts it, so that its own
 * timeouts work. Callers that come during a run join it. A run that ends `left` is the pod's one leave:
 * every later call answers it at once; any other end (`listed`, or a run cut short) leaves the leave
 * unspent, and the next call runs the procedure again. The scope's finalizer calls the leave too: a pod
 * without the preStop hook, or whose hook found it listed, still leaves at SIGTERM. The procedure's scope
 * is made before that finalizer is added, so it is closed after it, once the procedure is over.
 */
export const make = (procedure: Effect.Effect<Outcome>): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const procedureScope = yield* Scope.fork(yield* Scope.Scope, "sequential")
    const state = yield* Ref.make<State>(idle)
    // The state changes before the waiters hear the outcome, so that a call right after a `listed` run
    // starts a new one instead of joining the one that is over.
    const run = (done: Deferred.Deferred<Outcome>) =>
      Effect.interruptible(procedure).pipe(
        Effect.exit,
        Effect.tap((exit) =>
          Ref.set(
            state,
            Exit.isSuccess(exit) && exit.value.result === "left" ? { _tag: "Left", outcome: exit.value } : idle
          )
        ),
        Effect.flatMap((exit) => Deferred.done(done, exit)),
        Effect.forkIn(procedureScope)
      )
    // Claiming the run and forking it cannot be interrupted apart: a caller interrupted in between would
    // leave the state Running with nobody to complete it, and every later call waiting forever.
    const leave = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const fresh = yield* Deferred.make<Outcome>()
        const current = yield* Ref.getAndUpdate(
          state,
          (s): State => (s._tag === "Idle" ? { _tag: "Running", done: fresh } : s)
        )
        switch (current._tag) {
          case "Left":
            return current.outcome
          case "Running":
            return yield* restore(Deferred.await(current.done))
          case "Idle":
            yield* run(fresh)
            return yield* restore(Deferred.await(fresh))
        }
      })
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
