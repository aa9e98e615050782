/**
 * This pod's leave: once DNS no longer lists it (a bounded wait), it tells its peers (`left` refresh
 * hints, PeerMessaging.hintAll) and then resigns its shards (PeerDiscovery's `leave`), which pass to the peers the
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
 *
 * It is bounded, so that a stopping pod never exits much later because of hints: waiting for DNS to drop
 * this pod is at most {@link DNS_WAIT}, sending at most PeerMessaging.HINTS_TIMEOUT (every peer at once).
 * In Kubernetes the endpoint leaves the slice as the pod starts terminating, when the preStop hook is
 * called, so the wait is DNS's own delay in publishing that (CoreDNS's watch, its cache), a few lookups.
 */
import { PeerDiscovery } from "@miroir/peer-discovery"
import { Context, Deferred, Duration, Effect, Exit, Layer, Ref, Schedule, Scope } from "effect"
import { AppConfig } from "./AppConfig.js"
import { PeerMessaging } from "./PeerMessaging.js"

/** What a leave did. */
export interface LeaveResult {
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
  readonly leave: Effect.Effect<LeaveResult>
}

/** This pod's leave, as the admin listener's `POST /leave` and the shutdown use it. */
export class Leave extends Context.Service<Leave, Service>()("@miroir/miroir/Leave") {}

/** Where the leave stands: nothing under way (never run, or the last run found the pod listed), a run, or done. */
type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Running"; readonly done: Deferred.Deferred<LeaveResult> }
  | { readonly _tag: "Left"; readonly outcome: LeaveResult }

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
export const make = (procedure: Effect.Effect<LeaveResult>): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const procedureScope = yield* Scope.fork(yield* Scope.Scope, "sequential")
    const state = yield* Ref.make<State>(idle)
    // The state changes before the waiters hear the outcome, so that a call right after a `listed` run
    // starts a new one instead of joining the one that is over.
    const run = (done: Deferred.Deferred<LeaveResult>) =>
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
        const fresh = yield* Deferred.make<LeaveResult>()
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

/**
 * The longest wait of a leave for DNS to stop listing this pod; past it no hint goes and the leave stays
 * unspent. With PeerMessaging.HINTS_TIMEOUT, a leave takes at most 3 s, so a stopping pod still exits well
 * within 5 s.
 */
const DNS_WAIT = Duration.seconds(2)

/** The first delay between the lookups of this pod's own listing as it leaves; doubled up to {@link POLL_CAP}. */
const POLL_BASE = Duration.millis(50)

/**
 * The longest delay between those lookups: every 100 ms after the first two, so that the hints follow DNS
 * dropping this pod within a tenth of a second (a doubling backoff once sent them up to 800 ms late), at
 * the cost of at most about 20 lookups over {@link DNS_WAIT}, once per pod's life.
 */
const POLL_CAP = Duration.millis(100)

/**
 * The leave's procedure: once DNS no longer lists this pod, the `left` hints to the peers of the last view
 * that listed it, then the pod resigns, since they look up now. If DNS still lists it when the wait ends,
 * nothing: receivers would only look up and find it listed, and the leave stays unspent for the next call.
 * It never fails: a failure is logged, and the pod resigns all the same.
 */
export const procedure: Effect.Effect<LeaveResult, never, PeerDiscovery.PeerDiscovery | PeerMessaging> = Effect.gen(
  function*() {
    const discovery = yield* PeerDiscovery.PeerDiscovery
    const messaging = yield* PeerMessaging
    return yield* Effect.gen(function*() {
      // A pod DNS never listed has nobody to tell; one it did may be unlisted already (the endpoint
      // leaves as the pod starts terminating, and a tick may have seen it before the hook).
      if ((yield* discovery.current).everListed) {
        const unlisted = discovery.refresh.pipe(
          Effect.flatMap((set) => (set.selfInDns ? Effect.fail("still listed" as const) : Effect.void)),
          Effect.retry(
            Schedule.exponential(POLL_BASE).pipe(
              Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, POLL_CAP))),
              Schedule.upTo({ duration: DNS_WAIT })
            )
          ),
          Effect.timeout(DNS_WAIT),
          Effect.isSuccess
        )
        if (!(yield* unlisted)) {
          yield* Effect.logInfo(
            "DNS still lists this pod: no left hints, shards kept; the leave is not spent (the next preStop or SIGTERM runs it again)"
          ).pipe(Effect.annotateLogs({ waited: Duration.format(DNS_WAIT) }))
          return { result: "listed", selfInDns: true } satisfies LeaveResult
        }
        yield* messaging.hintAll("left", yield* discovery.current)
      }
      // After the hints, not before: resigning before the peers look up would leave the shards unowned.
      yield* discovery.leave
      return { result: "left", selfInDns: (yield* discovery.current).selfInDns } satisfies LeaveResult
    }).pipe(
      Effect.catchCause((cause) =>
        Effect.logWarning("sending the left hints failed", cause).pipe(
          Effect.andThen(discovery.current),
          Effect.map((set): LeaveResult => ({ result: "left", selfInDns: set.selfInDns }))
        )
      )
    )
  }
)

/**
 * This pod's leave ({@link make} over {@link procedure}); when `MIROIR_PEER_HINTS=off`, one that does
 * nothing ({@link off}).
 */
export const layer: Layer.Layer<Leave, never, AppConfig | PeerDiscovery.PeerDiscovery | PeerMessaging> = Layer
  .effect(
    Leave,
    Effect.gen(function*() {
      const { peerHints } = yield* AppConfig
      const discovery = yield* PeerDiscovery.PeerDiscovery
      if (peerHints === "off") return off(Effect.map(discovery.current, (set) => set.selfInDns))
      // Resolved here, so that every run uses this layer's discovery and messaging.
      return yield* make(
        Effect.provide(procedure, yield* Effect.context<PeerDiscovery.PeerDiscovery | PeerMessaging>())
      )
    })
  )
