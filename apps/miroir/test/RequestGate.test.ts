/** The gate of GET /ownership: a few at once, a bounded queue, then Busy at once; a bounded wait. */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import * as RequestGate from "../src/RequestGate.js"

/** Lets the fibers run, macrotasks included (a request that gets its turn first gives the event loop one). */
const settle = Effect.repeat(Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))), {
  times: 5
})

const limits: RequestGate.Limits = { concurrency: 2, queue: 3, maxWait: Duration.seconds(5) }

describe("RequestGate", () => {
  it.effect("serves `concurrency` at once, queues `queue` more, refuses the rest at once", () =>
    Effect.gen(function*() {
      const gate = yield* RequestGate.make(limits)
      const release = yield* Deferred.make<void>()
      let running = 0
      let most = 0
      const work = Effect.gen(function*() {
        running++
        most = Math.max(most, running)
        yield* Deferred.await(release)
        running--
        return "served"
      })
      const admitted = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.forkChild(gate.run(work)))
      yield* settle
      expect(yield* gate.admitted).toBe(5)
      expect(running).toBe(2)
      const refused = yield* Effect.result(gate.run(work))
      expect(Result.isFailure(refused) && refused.failure).toMatchObject({ _tag: "Busy", reason: "queue-full" })
      expect(Result.isFailure(refused) && refused.failure.message).toContain("2 requests in progress and 3 waiting")
      yield* Deferred.succeed(release, undefined)
      const results = yield* Effect.forEach(admitted, Fiber.join)
      expect(results).toEqual(Array(5).fill("served"))
      expect(most).toBe(2)
      expect(yield* gate.admitted).toBe(0)
    }))

  it.effect("refuses a request that waited and was served longer than maxWait, and frees its place", () =>
    Effect.gen(function*() {
      const gate = yield* RequestGate.make(limits)
      const slow = yield* Effect.forkChild(Effect.result(gate.run(Effect.never)))
      yield* TestClock.adjust(Duration.seconds(5))
      const result = yield* Fiber.join(slow)
      expect(Result.isFailure(result) && result.failure).toMatchObject({ _tag: "Busy", reason: "timeout" })
      expect(yield* gate.admitted).toBe(0)
    }))

  it.effect("an interrupted request (a client gone) frees its place", () =>
    Effect.gen(function*() {
      const gate = yield* RequestGate.make(limits)
      const fibers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.forkChild(gate.run(Effect.never)))
      yield* settle
      expect(yield* gate.admitted).toBe(5)
      yield* Effect.forEach(fibers, Fiber.interrupt)
      expect(yield* gate.admitted).toBe(0)
    }))
})
