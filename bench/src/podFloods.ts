/**
 * The floods of issue 18 ({@link runFloods}): a pod with the chart's heap and probe port, flooded past
 * every limit of its HTTP server in turn — connections that dribble their headers, hint bodies that
 * dribble, `/ownership?shards=65536` answers nobody reads, 3,000 requests at once, 100 MB hint bodies —
 * each from a niced process of its own on loopback source addresses of their own, while two prober
 * processes probe as the kubelet does, one the probe port (as the chart does), one the API's port (as
 * before). Per flood: the connections and requests the pod held at most, its heap and resident memory at
 * most, the probes' latency, and what it refused, by reason.
 */
import { mkdtempSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundle } from "@miroir/miroir/bundle"
import * as Pod from "@miroir/process-kit/PodProcess"
import * as Process from "@miroir/process-kit/ChildProcess"
import { type Probe, probing } from "@miroir/test-support/floods"
import { metricValue } from "@miroir/process-kit/metricsText"
import { freePort } from "@miroir/process-kit/freePort"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { Duration, Effect, Fiber, Schedule } from "effect"
import { FLOODS } from "./floodCases.js"
import type { Flood, FloodResult } from "./floodClient.js"
import { CHART_HEAP } from "./procStats.js"
import type { Add } from "./rolloutFigures.js"
import { DOMAIN, SRV_NAME } from "./podUnderLoad.js"
import { figure, quantile } from "./stats.js"

const FLOOD_IP = "127.18.2.2"
/** The kubelet's probe timeout in the chart. */
const PROBE_TIMEOUT_MS = 2_000
const floodClient = fileURLToPath(new URL("floodClient.ts", import.meta.url))

/** One flood's measurements. */
export interface FloodTrial {
  readonly name: string
  /** What the flood's clients saw, by status (0: closed or reset without an answer). */
  readonly client: FloodResult
  /** The most connections the pod held open, and requests it held, at once (its gauges, every 250 ms). */
  readonly connectionsHeld: number
  readonly requestsHeld: number
  /** The pod's heap and resident memory at most during the flood (sampled by the pod every 5 s), MB. */
  readonly heapMb: number
  readonly rssMb: number
  /** The same before the flood. */
  readonly heapBeforeMb: number
  readonly rssBeforeMb: number
  /** Probes on the probe port (the chart's) and on the API's port, during the flood: latency ms, 0 failed. */
  readonly probeMs: ReadonlyArray<number>
  readonly apiPortProbeMs: ReadonlyArray<number>
  readonly probesFailed: number
  readonly apiPortProbesFailed: number
  /** What the pod refused or cut off during the flood, by reason (miroir_http_refused_total). */
  readonly refused: Readonly<Record<string, number>>
  readonly loadAverage: number
}

const REASONS = [
  "connections_per_source",
  "connections_total",
  "requests_held",
  "pipelined",
  "body_too_large",
  "request_timeout",
  "idle_timeout",
  "malformed"
]

/** The pod's gauges and counters now. */
const scrape = (metricsUrl: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(metricsUrl)).text()
    const value = (name: string, labels?: Record<string, string>) => metricValue(text, name, labels) ?? 0
    return {
      open: value("miroir_http_open_connections"),
      held: value("miroir_http_held_requests"),
      heapMb: value("nodejs_heap_used_bytes") / 2 ** 20,
      rssMb: value("process_resident_memory_bytes") / 2 ** 20,
      refused: Object.fromEntries(REASONS.map((reason) => [reason, value("miroir_http_refused_total", { reason })]))
    }
  })

/** Runs `flood` in a process of its own, niced or not; resolves with what it printed last. */
const runFlood = (flood: Flood, niced: boolean): Effect.Effect<FloodResult, Error> =>
  Effect.suspend(() => {
    const child = Process.start("nice", [
      "-n",
      niced ? "10" : "0",
      process.execPath,
      "--import",
      "tsx",
      "--conditions=@miroir/source",
      floodClient,
      JSON.stringify(flood)
    ])
    return Process.exited(child).pipe(
      Effect.flatMap(() =>
        Effect.try({
          try: () => JSON.parse(child.output().trim().split("\n").at(-1)!) as FloodResult,
          catch: () => new Error(`the flood process printed: ${child.output()}`)
        })
      ),
      Effect.onInterrupt(() => Process.stop(child, { grace: Duration.seconds(1), signal: "SIGKILL" }))
    )
  })

const latencies = (probes: ReadonlyArray<Probe>) =>
  probes.map((probe) => (probe.status === 200 && probe.ms < PROBE_TIMEOUT_MS ? probe.ms : Number.NaN))

/** One pod, flooded by each of {@link FLOODS} in turn, settled between two. */
const floodTrial = (bundleFile: string, unbound: Unbound): Effect.Effect<ReadonlyArray<FloodTrial>, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const [httpPort, metricsPort, probePort, adminPort] = yield* Effect.promise(() =>
      Promise.all([freePort(FLOOD_IP), freePort(FLOOD_IP), freePort(FLOOD_IP), freePort(FLOOD_IP)])
    )
    const pod = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Pod.spawn({
          program: { bundle: bundleFile },
          name: "miroir-bench-floods",
          ip: FLOOD_IP,
          httpPort,
          metricsPort,
          adminPort,
          env: {
            MIROIR_DNS_SERVERS: unbound.server,
            MIROIR_PROBE_PORT: String(probePort),
            MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off",
            MIROIR_PEER_HINTS: "off",
            MIROIR_LOG_LEVEL: "error",
            NODE_OPTIONS: CHART_HEAP
          }
        })
      ),
      (pod) => Process.stop(pod.process, { grace: Duration.seconds(5) })
    )
    yield* Pod.awaitPod(pod)
    const probeUrl = `http://${FLOOD_IP}:${probePort}`
    const settled = Effect.flatMap(
      scrape(pod.metricsUrl),
      (now) => now.open <= 1 && now.held === 0 ? Effect.void : Effect.fail("busy")
    ).pipe(
      Effect.retry({ schedule: Schedule.spaced(Duration.millis(500)), times: 120 }),
      Effect.catch(() => Effect.void)
    )
    const trials: Array<FloodTrial> = []
    for (const flood of FLOODS) {
      yield* settled
      // A fresh sample of the pod's memory (every 5 s) before the flood.
      yield* Effect.sleep(Duration.seconds(5.5))
      const before = yield* scrape(pod.metricsUrl)
      const loadAverage = loadavg()[0]!
      const probes = probing(probeUrl, { localAddress: "127.18.2.100", timeoutMs: PROBE_TIMEOUT_MS, everyMs: 200 })
      const apiProbes = probing(pod.url, { localAddress: "127.18.2.101", timeoutMs: PROBE_TIMEOUT_MS, everyMs: 200 })
      const samples: Array<Effect.Success<ReturnType<typeof scrape>>> = []
      const sampler = yield* Effect.forkChild(
        Effect.repeat(
          Effect.tap(scrape(pod.metricsUrl), (sample) => Effect.sync(() => samples.push(sample))),
          Schedule.spaced(Duration.millis(250))
        )
      )
      const client = yield* runFlood(flood.flood({ host: FLOOD_IP, port: httpPort, url: pod.url }), flood.niced ?? true)
      // One more memory sample after the flood's end: the pod samples every 5 s.
      yield* Effect.sleep(Duration.seconds(5.5))
      yield* Fiber.interrupt(sampler)
      const [probed, apiProbed] = yield* Effect.promise(() => Promise.all([probes.stop(), apiProbes.stop()]))
      const after = yield* scrape(pod.metricsUrl)
      trials.push({
        name: flood.name,
        client,
        connectionsHeld: Math.max(...samples.map((s) => s.open)),
        requestsHeld: Math.max(...samples.map((s) => s.held)),
        heapMb: Math.max(...samples.map((s) => s.heapMb)),
        rssMb: Math.max(...samples.map((s) => s.rssMb)),
        heapBeforeMb: before.heapMb,
        rssBeforeMb: before.rssMb,
        probeMs: latencies(probed),
        apiPortProbeMs: latencies(apiProbed),
        probesFailed: probed.filter((probe) => probe.status !== 200 || probe.ms >= PROBE_TIMEOUT_MS).length,
        apiPortProbesFailed: apiProbed.filter((probe) => probe.status !== 200 || probe.ms >= PROBE_TIMEOUT_MS).length,
        refused: Object.fromEntries(
          REASONS.map((reason) => [reason, after.refused[reason]! - before.refused[reason]!])
        ),
        loadAverage
      })
      console.log(`  ${flood.name}: ${JSON.stringify(summarizeFlood(trials.at(-1)!))}`)
    }
    return trials
  }))

/** Runs the floods on a fresh pod per trial (3 trials, 1 in quick mode); one list of floods per trial. */
export const runFloods = (quick: boolean): Effect.Effect<ReadonlyArray<ReadonlyArray<FloodTrial>>, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const bundleFile = yield* Effect.promise(() =>
      bundle(join(mkdtempSync(join(tmpdir(), "miroir-bench-floods-")), "miroir.mjs"))
    )
    const unbound = yield* Effect.acquireRelease(
      Effect.promise(() =>
        startUnbound({ records: [`${SRV_NAME} 5 IN SRV 0 1 7700 ${FLOOD_IP.replaceAll(".", "-")}.${DOMAIN}`] })
      ),
      (server) => Effect.promise(server.stop)
    )
    const trials: Array<ReadonlyArray<FloodTrial>> = []
    for (let i = 0; i < (quick ? 1 : 3); i++) trials.push(yield* floodTrial(bundleFile, unbound))
    return trials
  }))

/** A flood's figures: probes' p50, p99 and max on both ports (failed probes count as over the timeout). */
export const summarizeFlood = (trial: FloodTrial) => {
  const tail = (values: ReadonlyArray<number>) => {
    const counted = values.map((v) => (Number.isNaN(v) ? PROBE_TIMEOUT_MS : v))
    return {
      p50: Math.round(quantile(counted, 0.5) * 10) / 10,
      p99: Math.round(quantile(counted, 0.99) * 10) / 10,
      max: Math.round(Math.max(...counted) * 10) / 10
    }
  }
  return {
    connectionsHeld: trial.connectionsHeld,
    requestsHeld: trial.requestsHeld,
    heapMb: Math.round(trial.heapMb * 10) / 10,
    rssMb: Math.round(trial.rssMb * 10) / 10,
    heapBeforeMb: Math.round(trial.heapBeforeMb * 10) / 10,
    rssBeforeMb: Math.round(trial.rssBeforeMb * 10) / 10,
    probe: { ...tail(trial.probeMs), failed: trial.probesFailed, count: trial.probeMs.length },
    apiPortProbe: {
      ...tail(trial.apiPortProbeMs),
      failed: trial.apiPortProbesFailed,
      count: trial.apiPortProbeMs.length
    },
    refused: Object.fromEntries(Object.entries(trial.refused).filter(([, n]) => n > 0)),
    client: trial.client.statuses,
    loadAverage: Math.round(trial.loadAverage * 100) / 100
  }
}

/**
 * Writes the floods' figures into `results.podUnderLoad.floods` (per flood: the median over the trials and
 * every trial's summary) and the table's rows: per flood the probes' p99 on the probe port (target: under
 * 1 s, half the kubelet's timeout), the connections held, and the heap at most (target: under the
 * chart's 128 MB).
 */
export const recordFloods = (
  trials: ReadonlyArray<ReadonlyArray<FloodTrial>>,
  results: Record<string, any>,
  add: Add
): void => {
  results.podUnderLoad ??= {}
  const floods: Record<string, unknown> = {}
  for (const flood of FLOODS) {
    const runs = trials.flatMap((trial) => trial.filter((t) => t.name === flood.name))
    const summaries = runs.map(summarizeFlood)
    const median = (pick: (s: ReturnType<typeof summarizeFlood>) => number) => quantile(summaries.map(pick), 0.5)
    floods[flood.name] = {
      what: flood.what,
      connectionsHeld: median((s) => s.connectionsHeld),
      requestsHeld: median((s) => s.requestsHeld),
      heapMb: median((s) => s.heapMb),
      rssMb: median((s) => s.rssMb),
      probeP50Ms: median((s) => s.probe.p50),
      probeP99Ms: median((s) => s.probe.p99),
      apiPortProbeP50Ms: median((s) => s.apiPortProbe.p50),
      apiPortProbeP99Ms: median((s) => s.apiPortProbe.p99),
      trials: summaries
    }
    const key = `podUnderLoad.flood.${flood.name}`
    const p99s = summaries.map((s) => s.probe.p99)
    add(`${key}.probeP99Ms`, figure(p99s, `ms (p99 of the probe port's /healthz and /readyz: ${flood.what})`), {
      text: "< 1,000 ms, none failed",
      met: Math.max(...p99s) < 1_000 && summaries.every((s) => s.probe.failed === 0)
    })
    add(
      `${key}.apiPortProbeP99Ms`,
      figure(summaries.map((s) => s.apiPortProbe.p99), "ms (p99 of the same probes on the API's port; 2,000: failed)")
    )
    add(`${key}.connectionsHeld`, figure(summaries.map((s) => s.connectionsHeld), "connections held at most"))
    const heaps = summaries.map((s) => s.heapMb)
    add(`${key}.heapMb`, figure(heaps, "MB of heap at most (chart: 128)"), {
      text: "< 128 MB",
      met: Math.max(...heaps) < 128
    })
    add(`${key}.rssMb`, figure(summaries.map((s) => s.rssMb), "MB resident at most"))
  }
  results.podUnderLoad.floods = floods
}
