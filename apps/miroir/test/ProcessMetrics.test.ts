import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import * as ProcessMetrics from "../src/ProcessMetrics.js"

/** Spends about `ms` of CPU time on this thread. */
const spin = (ms: number) =>
  Effect.sync(() => {
    const until = performance.now() + ms
    while (performance.now() < until) {
      // busy
    }
  })

describe("ProcessMetrics", () => {
  it.effect("counts the process's CPU seconds as a counter that follows process.cpuUsage()", () =>
    Effect.gen(function*() {
      yield* Layer.build(ProcessMetrics.layer)
      const first = (yield* Metric.value(ProcessMetrics.cpuSeconds)).count
      const usage = process.cpuUsage()
      expect(first).toBeGreaterThan(0)
      expect(first).toBeLessThanOrEqual((usage.user + usage.system) / 1e6)
      yield* spin(50)
      yield* TestClock.adjust(ProcessMetrics.SAMPLE_INTERVAL)
      const second = (yield* Metric.value(ProcessMetrics.cpuSeconds)).count
      expect(second).toBeGreaterThan(first + 0.03)
      const after = process.cpuUsage()
      expect(second).toBeLessThanOrEqual((after.user + after.system) / 1e6)
    }))
})
