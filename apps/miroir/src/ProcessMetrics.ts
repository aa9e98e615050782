/**
 * Metrics of the process itself, as Effect metrics beside the library's, so that /metrics and OTLP
 * carry them too, named as Prometheus's client libraries name them. Sampled every few seconds by a fiber
 * of the layer's scope.
 */
import { Duration, Effect, Layer, Metric, Schedule } from "effect"

/** Resident set size. */
export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory size in bytes"
})

/** V8 heap in use. */
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap used, in bytes" })

/**
 * User and system CPU time since the process started: a counter, named as Prometheus's client libraries
 * name it, so that `rate()` applies.
 */
export const cpuSeconds = Metric.counter("process_cpu_seconds_total", {
  description: "Total user and system CPU time spent in seconds",
  incremental: true
})

/** When the process started, in Unix seconds. */
export const startTime = Metric.gauge("process_start_time_seconds", {
  description: "Start time of the process since the Unix epoch, in seconds"
})

/** How often the metrics are sampled. */
export const SAMPLE_INTERVAL = Duration.seconds(5)

const sample = Effect.gen(function*() {
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  yield* Metric.update(residentMemory, memory.rss)
  yield* Metric.update(heapUsed, memory.heapUsed)
  // The counter follows the process's own total: it grows by what was spent since it was last brought up to date.
  const counted = (yield* Metric.value(cpuSeconds)).count
  yield* Metric.update(cpuSeconds, Math.max(0, (cpu.user + cpu.system) / 1e6 - counted))
})

/** Samples the process metrics now and every {@link SAMPLE_INTERVAL} while the layer lives. */
export const layer: Layer.Layer<never> = Layer.effectDiscard(
  Effect.gen(function*() {
    yield* Metric.update(startTime, Math.floor((Date.now() - process.uptime() * 1000) / 1000))
    yield* sample
    yield* Effect.forkScoped(Effect.schedule(sample, Schedule.spaced(SAMPLE_INTERVAL)))
  })
)
