/**
 * The last OTLP flushes at shutdown, in-process on TestClock against a collector that never answers: the
 * metrics' and the spans' flushes are under way at once (their two requests arrive while neither's bound
 * has run out), and the close ends once one bound (Telemetry.SHUTDOWN_FLUSH_TIMEOUT) has passed, not two.
 * Asserted by order and on the test's clock, not by the duration of a process's stop, which a loaded
 * machine stretches (otlp.test.ts checks there only that the pod stops by itself).
 */
import { describe, expect, it } from "@effect/vitest"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Telemetry from "../src/Telemetry.js"
import * as TelemetryConfig from "../src/TelemetryConfig.js"
import { startReceiver } from "./support/otlpReceiver.js"
import { podSettings } from "./support/settings.js"

describe("the OTLP exporters at shutdown", () => {
  it.effect("flush metrics and spans at once, the close bounded by one flush timeout", () =>
    Effect.gen(function*() {
      const silent = yield* Effect.acquireRelease(
        Effect.promise(() => startReceiver({ silent: true })),
        (receiver) => Effect.promise(() => receiver.stop())
      )
      const telemetry = {
        ...podSettings("10.0.0.1", 0).telemetry,
        metricsEndpoint: Option.some(`${silent.url}/v1/metrics`),
        tracesEndpoint: Option.some(`${silent.url}/v1/traces`)
      }
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        Telemetry.otlpLayer.pipe(Layer.provide(TelemetryConfig.layer(telemetry))),
        scope
      )
      // A span to flush (the metrics always have a snapshot to send).
      yield* Effect.void.pipe(Effect.withSpan("a span to flush"), Effect.provideContext(context))
      const before = silent.requests.length
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      // Both requests arrive with the test's clock still at the start: neither flush waited for the other.
      yield* Effect.promise(() =>
        waitUntil("both last flushes to reach the collector", 10_000, async () => {
          const paths = silent.requests.slice(before).map((request) => request.path)
          return paths.includes("/v1/metrics") && paths.includes("/v1/traces")
        })
      )
      expect(closing.pollUnsafe()).toBeUndefined()
      // One bound later, both have given up on the collector, and the close is over.
      yield* TestClock.adjust(Telemetry.SHUTDOWN_FLUSH_TIMEOUT)
      yield* Fiber.join(closing)
    }))
})
