import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import * as ProcessMetrics from "../src/ProcessMetrics.js"

/** This process's CPU time so far (user and system), in seconds: what the counter follows. */
const cpuNow = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/**
 * Spends `seconds` of CPU time on this thread, measured as CPU time rather than as time on the wall
 * clock: on a loaded machine 50 ms of the wall clock may hold far less CPU time for this process.
 */
const spinCpu = (seconds: number) =>
  Effect.sync(() => {
    const until = cpuNow() + seconds
    while (cpuNow() < until) {
      // busy
    }
  })

describe("ProcessMetrics", () => {
  it.effect("counts the process's CPU seconds as a counter that follows process.cpuUsage()", () =>
    Effect.gen(function*() {
      yield* Layer.build(ProcessMetrics.layer)
      const first = (yield* Metric.value(ProcessMetrics.cpuSeconds)).count
      const afterFirst = cpuNow()
      expect(first).toBeGreaterThan(0)
      expect(first).toBeLessThanOrEqual(afterFirst)
      yield* spinCpu(0.05)
      yield* TestClock.adjust(ProcessMetrics.SAMPLE_INTERVAL)
      const second = (yield* Metric.value(ProcessMetrics.cpuSeconds)).count
      // The sample after the spin counts at least the CPU time spent since the first one, whatever the load.
      expect(second).toBeGreaterThanOrEqual(afterFirst + 0.05)
      expect(second).toBeLessThanOrEqual(cpuNow())
    }))
})
