/**
 * Admission control for the requests that cost CPU (`GET /ownership`): at most `concurrency` served at
 * once, at most `queue` more waiting, and none waiting or served longer than `maxWait`. Whatever
 * exceeds that is refused at once with {@link Busy}, which the HTTP API answers as a 503 with
 * `Retry-After`: a flood then costs the pod a bounded amount of memory and CPU, and the client a clear
 * answer instead of a hang.
 *
 * A request that gets its turn first gives the event loop a turn: when a shared computation finishes,
 * its waiters would otherwise all answer in one uninterrupted run of microtasks, and a probe arriving
 * meanwhile would wait for every one of them. This way at most `concurrency` answer per turn of the loop:
 * `Effect.yieldNow` resumes from a `setImmediate` (Effect 4's default scheduler), after Node has polled
 * for I/O.
 */
import { Context, Data, Duration, Effect, Layer, Metric, Ref, Semaphore } from "effect"
import * as AppMetrics from "./AppMetrics.js"

/** The bounds of the gate. */
export interface Limits {
  /** Requests served at once. */
  readonly concurrency: number
  /** Requests waiting for a turn beyond those; more are refused at once. */
  readonly queue: number
  /** The longest a request may wait and be served; past it, it is refused. */
  readonly maxWait: Duration.Duration
}

/** The limits of `GET /ownership`: answers come from a cache, so a few at once keep the pod busy enough. */
const defaultLimits: Limits = { concurrency: 8, queue: 64, maxWait: Duration.seconds(5) }

/** Seconds a refused client should wait before trying again (the `Retry-After` header). */
export const RETRY_AFTER_SECONDS = 1

/** A request refused by the gate. */
export class Busy extends Data.TaggedError("Busy")<{
  /** `queue-full`: refused on arrival; `timeout`: waited and was served longer than `maxWait`. */
  readonly reason: "queue-full" | "timeout"
  readonly limits: Limits
}> {
  override get message(): string {
    return this.reason === "queue-full"
      ? `busy: ${this.limits.concurrency} requests in progress and ${this.limits.queue} waiting; retry after ${RETRY_AFTER_SECONDS} s`
      : `busy: not answered within ${Duration.format(this.limits.maxWait)}; retry after ${RETRY_AFTER_SECONDS} s`
  }
}

/** What the gate offers. */
export interface Service {
  /** Runs `effect` when its turn comes, or fails with {@link Busy}. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Busy, R>
  /** Requests admitted now (served and waiting). */
  readonly admitted: Effect.Effect<number>
  readonly limits: Limits
}

/** The gate of `GET /ownership` as a service. */
export class RequestGate extends Context.Service<RequestGate, Service>()("@miroir/miroir/RequestGate") {}

/** Builds a gate with `limits`. */
export const make = (limits: Limits): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const turns = yield* Semaphore.make(limits.concurrency)
    const admitted = yield* Ref.make(0)
    const capacity = limits.concurrency + limits.queue
    const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Busy, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          Ref.modify(admitted, (n) => (n >= capacity ? [false, n] : [true, n + 1])),
          (entered) =>
            entered
              ? restore(
                turns.withPermits(1)(Effect.andThen(Effect.yieldNow, effect)).pipe(
                  Effect.timeoutOrElse({
                    duration: limits.maxWait,
                    orElse: () => Effect.fail(new Busy({ reason: "timeout", limits }))
                  })
                )
              ).pipe(Effect.ensuring(Ref.update(admitted, (n) => n - 1)))
              : Effect.fail(new Busy({ reason: "queue-full", limits }))
        )
      ).pipe(
        Effect.tapError((error) => error instanceof Busy ? Metric.update(AppMetrics.ownershipRejected, 1) : Effect.void)
      )
    return { run, admitted: Ref.get(admitted), limits } satisfies Service
  })

/** A gate with `limits` ({@link defaultLimits} unless given). */
export const layer = (limits: Limits = defaultLimits): Layer.Layer<RequestGate> =>
  Layer.effect(RequestGate, make(limits))
