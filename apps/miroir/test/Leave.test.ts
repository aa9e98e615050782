/**
 * The leave's semantics (Leave.make) on TestClock, over a scripted procedure: one run at a time that
 * every caller meanwhile joins; a run that ends `left` is spent for good, one that ends `listed` is not
 * (the next call runs it again); a caller that goes away does not stop a run; the scope's finalizer (the
 * pod's SIGTERM) runs the leave when none completed, and not again when one did.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Leave from "../src/Leave.js"

/** What one run of the procedure does: how long it takes and how it ends. */
type Step = "left" | "listed"

/**
 * A procedure that takes 1 s (as a leave waits for DNS) and ends as `script` says, run after run (the last
 * step repeats); `runs` counts the runs started.
 */
const scripted = (script: ReadonlyArray<Step>) =>
  Effect.gen(function*() {
    const runs = yield* Ref.make(0)
    const procedure = Effect.gen(function*() {
      const run = yield* Ref.getAndUpdate(runs, (n) => n + 1)
      yield* Effect.sleep(Duration.seconds(1))
      const result = script[Math.min(run, script.length - 1)]!
      return { result, selfInDns: result === "listed" } satisfies Leave.LeaveResult
    })
    return { runs, procedure }
  })

describe("Leave", () => {
  it.effect("runs once for every caller that comes during a run, and a completed leave answers at once", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["left"])
      const service = yield* Leave.make(procedure)
      const callers = yield* Effect.forEach([0, 1, 2], () => Effect.forkChild(service.leave))
      yield* TestClock.adjust(Duration.millis(500))
      // A latecomer joins the run under way.
      const late = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.millis(500))
      for (const caller of [...callers, late]) {
        expect(yield* Fiber.join(caller)).toEqual({ result: "left", selfInDns: false })
      }
      expect(yield* Ref.get(runs)).toBe(1)
      // Spent: the next call answers at once, without a run (no clock moves here).
      expect(yield* service.leave).toEqual({ result: "left", selfInDns: false })
      expect(yield* Ref.get(runs)).toBe(1)
    }))

  it.effect("a leave that finds the pod listed is not spent: every caller hears `listed`, the next call runs again", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["listed", "listed", "left"])
      const service = yield* Leave.make(procedure)
      const first = yield* Effect.forEach([0, 1], () => Effect.forkChild(service.leave))
      yield* TestClock.adjust(Duration.seconds(1))
      for (const caller of first) expect((yield* Fiber.join(caller)).result).toBe("listed")
      expect(yield* Ref.get(runs)).toBe(1)
      // A later preStop runs it again, and again finds the pod listed.
      const second = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.join(second)).result).toBe("listed")
      expect(yield* Ref.get(runs)).toBe(2)
      // DNS has dropped the pod by the third: it leaves, for good.
      const third = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.join(third)).result).toBe("left")
      expect(yield* service.leave).toEqual({ result: "left", selfInDns: false })
      expect(yield* Ref.get(runs)).toBe(3)
    }))

  it.effect("a caller that goes away does not stop the run: the next caller joins it", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["left"])
      const service = yield* Leave.make(procedure)
      // The kubelet gives up on a hook (its grace period ran out) half-way through the run.
      const hook = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.millis(500))
      yield* Fiber.interrupt(hook)
      const next = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.millis(500))
      expect((yield* Fiber.join(next)).result).toBe("left")
      expect(yield* Ref.get(runs)).toBe(1)
    }))

  it.effect("the scope's end (SIGTERM) runs the leave when no call completed it", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["left"])
      const scope = yield* Scope.make()
      yield* Scope.provide(Leave.make(procedure), scope)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(closing)
      expect(yield* Ref.get(runs)).toBe(1)
    }))

  it.effect("the scope's end runs the leave again after a preStop found the pod listed", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["listed", "left"])
      const scope = yield* Scope.make()
      const service = yield* Scope.provide(Leave.make(procedure), scope)
      const hook = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* Fiber.join(hook)).result).toBe("listed")
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(closing)
      expect(yield* Ref.get(runs)).toBe(2)
    }))

  it.effect("the scope's end joins a run under way, and runs nothing more after a completed leave", () =>
    Effect.gen(function*() {
      const { procedure, runs } = yield* scripted(["left"])
      const scope = yield* Scope.make()
      const service = yield* Scope.provide(Leave.make(procedure), scope)
      const hook = yield* Effect.forkChild(service.leave)
      yield* TestClock.adjust(Duration.millis(500))
      // SIGTERM while the hook's leave runs: the finalizer waits for that run, and starts none of its own.
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* TestClock.adjust(Duration.millis(500))
      yield* Fiber.join(closing)
      expect((yield* Fiber.join(hook)).result).toBe("left")
      expect(yield* Ref.get(runs)).toBe(1)
    }))

  it.effect("with hints off, it does nothing and says whether DNS lists the pod", () =>
    Effect.gen(function*() {
      expect(yield* Leave.off(Effect.succeed(true)).leave).toEqual({ result: "off", selfInDns: true })
    }))
})
