/** One run in flight per key: callers meanwhile share its result; the next call after it runs again. */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref } from "effect"
import * as SingleFlight from "../src/internal/singleFlight.js"

describe("singleFlight", () => {
  it.effect("shares a run under way with callers of its key, not of others, and runs again once it ended", () =>
    Effect.gen(function*() {
      const flight = yield* SingleFlight.make<string>()
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const run = (value: number) =>
        Effect.andThen(Ref.update(runs, (n) => n + 1), Effect.as(Deferred.await(gate), value))
      const first = yield* Effect.forkChild(flight("a", run(1)))
      yield* Effect.yieldNow
      const second = yield* Effect.forkChild(flight("a", run(2)))
      const other = yield* Effect.forkChild(flight("b", run(3)))
      yield* Effect.yieldNow
      expect(yield* Ref.get(runs)).toBe(2)
      yield* Deferred.succeed(gate, undefined)
      expect([yield* Fiber.join(first), yield* Fiber.join(second), yield* Fiber.join(other)]).toEqual([1, 1, 3])
      expect(yield* flight("a", run(4))).toBe(4)
      expect(yield* Ref.get(runs)).toBe(3)
    }))

  it.effect("a run that fails lets the next call run again", () =>
    Effect.gen(function*() {
      const flight = yield* SingleFlight.make<string>()
      const failed = yield* Effect.exit(flight("a", Effect.die("boom")))
      expect(failed._tag).toBe("Failure")
      expect(yield* flight("a", Effect.succeed(5))).toBe(5)
    }))
})
