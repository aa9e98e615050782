/**
 * A pod under load (issue 11, point 5): one pod process (the esbuild bundle, as the image runs it) whose
 * DNS lists 300 peers, flooded by 200 concurrent `GET /ownership?shards=65536` from another process (niced),
 * while this process probes `/healthz` every 20 ms as a kubelet would (from just before the flood until
 * just after it). Then a second flood at another shard count (a computation in progress) and SIGTERM in
 * its middle: the time until the process has exited, and its exit code. A fresh pod per trial, so every
 * first flood finds a cold cache.
 *
 * Targets: `/healthz` p99 under 100 ms during the flood; exit 0 within 5 s of SIGTERM. Before the fix
 * (issue 11): 100 such requests at 301 peers took 24 s, 10 of 12 probes exceeded 2 s, and SIGTERM took
 * 12–44 s.
 *
 * Then the floods of issue 18 ({@link runFloods}): a pod with the chart's heap and probe port, flooded past
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
import { MAX_POD_SHARDS } from "@miroir/pod-api/Shards"
import * as Client from "@miroir/pod-api/Client"
import * as Pod from "@miroir/process-kit/PodProcess"
import * as Process from "@miroir/process-kit/ChildProcess"
import { type Probe, probing } from "@miroir/test-support/floods"
import { metricValue } from "@miroir/process-kit/metricsText"
import { freePort } from "@miroir/process-kit/freePort"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { Duration, Effect, Fiber, Schedule } from "effect"
import type { Flood, FloodResult } from "./floodClient.js"
import { CHART_HEAP } from "./procStats.js"
import type { Add } from "./rolloutFigures.js"
import { figure, quantile } from "./stats.js"

const DOMAIN = "miroir-headless.default.svc.cluster.local."
const SRV_NAME = `_http._tcp.${DOMAIN}`
const IP = "127.0.3.2"
/** Peers in DNS, the pod included. */
export const PEERS = 300
/** Requests fired at once. */
export const CONCURRENCY = 200
/** Shards per request: the largest count the pod accepts. */
export const SHARDS = MAX_POD_SHARDS
const PROBE_EVERY_MS = 20
const IDLE_PROBING_MS = 3_000

/** One trial's measurements. */
export interface Trial {
  /** Latency of every `/healthz` probe during the flood, ms. */
  readonly healthzMs: ReadonlyArray<number>
  /** The same probes for as long before the flood, the pod idle: what the machine itself adds. */
  readonly idleHealthzMs: ReadonlyArray<number>
  /** Requests of the flood answered 200, refused 503, failed otherwise. */
  readonly answered: number
  readonly refused: number
  readonly failed: number
  /** Until the last request of the flood was answered. */
  readonly floodMs: number
  /** From SIGTERM (sent mid-flood) until the process had exited. */
  readonly sigtermExitMs: number
  readonly exitCode: number | null
  /** The machine's 1-minute load average as the flood started: on two shared cores it moves the tail. */
  readonly loadAverage: number
}

/**
 * The flood, in a process of its own at a lower priority (`nice -n 10`), so that its 200 connections do
 * not slow the probes down on this side and the client does not take the pod's CPU: in a cluster the
 * clients run elsewhere, and on two cores an equal-priority client measured itself (probes held by the
 * kernel's scheduler, not by the pod). Each request on a connection of its own, from four loopback source
 * addresses (127.18.5.1–4, 50 each): a source may hold at most 128 connections (issue 18's limits).
 * Prints `{ answered, refused, failed, ms }`.
 */
const FLOOD_SCRIPT = `
import { get } from "node:http"
const [url, count] = [process.argv[1], Number(process.argv[2])]
const started = performance.now()
const one = (i) => new Promise((resolve) => {
  const req = get(url, { agent: false, localAddress: "127.18.5." + (1 + i % 4) }, (res) => {
    res.resume()
    res.on("end", () => resolve(res.statusCode))
    res.on("error", () => resolve(0))
  })
  req.on("error", () => resolve(0))
})
const results = await Promise.all(Array.from({ length: count }, (_, i) => one(i)))
console.log(JSON.stringify({
  answered: results.filter((s) => s === 200).length,
  refused: results.filter((s) => s === 503).length,
  failed: results.filter((s) => s !== 200 && s !== 503).length,
  ms: performance.now() - started
}))
`

/** How the flood ended. */
interface Flooded {
  readonly answered: number
  readonly refused: number
  readonly failed: number
  readonly ms: number
}

const flood = (url: string, count: number): Effect.Effect<Flooded, Error> =>
  Effect.suspend(() => {
    const child = Process.start("nice", [
      "-n",
      "10",
      process.execPath,
      "--input-type=module",
      "-e",
      FLOOD_SCRIPT,
      url,
      String(count)
    ])
    return Process.exited(child).pipe(
      Effect.flatMap(() =>
        Effect.try({
          try: () => JSON.parse(child.output().trim().split("\n").at(-1)!) as Flooded,
          catch: () => new Error(`the flood process printed: ${child.output()}`)
        })
      ),
      Effect.onInterrupt(() => Process.stop(child, { grace: Duration.seconds(1), signal: "SIGKILL" }))
    )
  })

/** The latency of one `/healthz` probe of the pod at `base`, as a kubelet's, ms; anything but a 200 fails. */
const probe = (base: string): Effect.Effect<number, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const started = performance.now()
    yield* Effect.flatMap(Client.PodClient, (api) => api.probes.healthz()).pipe(Client.at(base))
    return performance.now() - started
  }).pipe(Effect.mapError((error) => new Error(`/healthz: ${String(error)}`)))

/** The pod's `/peers` lists every peer. */
const seesEveryPeer = (base: string) =>
  Effect.flatMap(Client.PodClient, (api) => api.peers.peers()).pipe(
    Client.at(base),
    Effect.map((body) => body.peers.length === PEERS)
  )

/**
 * Probes the pod at `base` every {@link PROBE_EVERY_MS} while `during` runs (a probe under way when it ends is
 * finished), and returns the latencies and what `during` returned.
 */
const probeDuring = <A, E>(base: string, during: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const done = yield* Effect.forkChild(during)
    yield* probe(base).pipe(
      Effect.tap((ms) => Effect.sync(() => latencies.push(ms))),
      Effect.andThen(Effect.sleep(PROBE_EVERY_MS)),
      Effect.andThen(Effect.sync(() => done.pollUnsafe() === undefined)),
      Effect.repeat({ while: (probing) => probing })
    )
    return { latencies, result: yield* Fiber.join(done) }
  })

const trial = (bundleFile: string, unbound: Unbound): Effect.Effect<Trial, Error, Client.PodClient> =>
  Effect.scoped(Effect.gen(function*() {
    const [httpPort, metricsPort, adminPort] = yield* Effect.promise(() =>
      Promise.all([freePort(IP), freePort(IP), freePort(IP)])
    )
    const pod = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Pod.spawn({
          program: { bundle: bundleFile },
          name: "miroir-bench-load",
          ip: IP,
          httpPort,
          metricsPort,
          adminPort,
          env: {
            MIROIR_DNS_SERVERS: unbound.server,
            MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off",
            // The other peers are names in DNS only: nothing must try to reach them.
            MIROIR_PEER_HINTS: "off",
            MIROIR_LOG_LEVEL: "error"
          }
        })
      ),
      (pod) => Process.stop(pod.process, { grace: Duration.seconds(1), signal: "SIGKILL" })
    )
    yield* Process.awaitReady(pod.process, `the pod to see ${PEERS} peers`, seesEveryPeer(pod.url), {
      timeout: Duration.seconds(60)
    })
    const idle = yield* probeDuring(pod.url, Effect.sleep(IDLE_PROBING_MS))
    // Probes from just before the flood until just after it.
    const loadAverage = loadavg()[0]!
    const flooded = yield* probeDuring(
      pod.url,
      Effect.sleep(200).pipe(
        Effect.andThen(flood(`${pod.url}/ownership?shards=${SHARDS}`, CONCURRENCY)),
        Effect.tap(Effect.sleep(200))
      )
    )
    // SIGTERM in the middle of a flood at another shard count: a computation is under way.
    const second = yield* Effect.forkChild(flood(`${pod.url}/ownership?shards=${SHARDS - 1}`, CONCURRENCY))
    yield* Effect.sleep(150)
    const signalled = performance.now()
    const ended = yield* Process.stop(pod.process, { grace: Duration.seconds(30) })
    const sigtermExitMs = performance.now() - signalled
    yield* Fiber.join(second)
    const result = flooded.result
    return {
      healthzMs: flooded.latencies,
      idleHealthzMs: idle.latencies,
      ...result,
      floodMs: result.ms,
      sigtermExitMs,
      exitCode: ended.code,
      loadAverage
    }
  }))

/** Runs the trials (5, or 2 in quick mode). */
export const run = (quick: boolean): Effect.Effect<ReadonlyArray<Trial>, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const bundleFile = yield* Effect.promise(() =>
      bundle(join(mkdtempSync(join(tmpdir(), "miroir-bench-load-")), "miroir.mjs"))
    )
    const ids = [
      IP.replaceAll(".", "-"),
      ...Array.from({ length: PEERS - 1 }, (_, i) => `127-4-${Math.floor(i / 200)}-${i % 200 + 1}`)
    ]
    const unbound = yield* Effect.acquireRelease(
      Effect.promise(() => startUnbound({ records: ids.map((id) => `${SRV_NAME} 5 IN SRV 0 1 7700 ${id}.${DOMAIN}`) })),
      (server) => Effect.promise(server.stop)
    )
    const trials: Array<Trial> = []
    for (let i = 0; i < (quick ? 2 : 5); i++) trials.push(yield* trial(bundleFile, unbound))
    return trials
  })).pipe(Effect.provide(Client.layerFetch))

/** Per trial: p50, p99 and max of the probes during the flood, and p99 of those before it. */
export const summarize = (trial: Trial) => ({
  p50: quantile(trial.healthzMs, 0.5),
  p99: quantile(trial.healthzMs, 0.99),
  max: Math.max(...trial.healthzMs),
  idleP99: quantile(trial.idleHealthzMs, 0.99)
})

// The floods of issue 18.

const FLOOD_IP = "127.18.2.2"
/** The floods' source addresses: 127.18.2.10 onwards. */
const floodSources = (count: number, from = 0) => Array.from({ length: count }, (_, i) => `127.18.2.${10 + from + i}`)
/** The kubelet's probe timeout in the chart. */
const PROBE_TIMEOUT_MS = 2_000
const floodClient = fileURLToPath(new URL("floodClient.ts", import.meta.url))

/** One flood of {@link runFloods}: what it sends, and for how long the pod is watched. */
interface FloodCase {
  readonly name: string
  readonly what: string
  /**
   * Whether its process runs niced (default): so that it measures the pod, not the clients' share of two
   * cores. Not niced, it opens its connections as fast as clients elsewhere would, all at once.
   */
  readonly niced?: boolean
  readonly flood: (pod: { readonly host: string; readonly port: number; readonly url: string }) => Flood
}

/** The floods, each past a limit of the pod's HTTP server (apps/miroir/src/HttpApi/Limits.ts). */
export const FLOODS: ReadonlyArray<FloodCase> = [
  {
    name: "slowHeaders",
    what: "1,400 connections sending a request line and one header, then nothing (10 sources × 140)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(10),
      perSource: 140,
      send: "GET /peers HTTP/1.1\r\nHost: pod\r\n",
      holdMs: 13_000
    })
  },
  {
    name: "slowBodies",
    what: "1,024 POST /hints declaring 1,000 bytes and sending one a second (8 sources × 128)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "POST /hints HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
      dribble: " ",
      holdMs: 18_000
    })
  },
  {
    name: "unreadAnswers",
    what: "1,024 GET /ownership?shards=65536 (400 kB each) reading only the first bytes (8 sources × 128)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "GET /ownership?shards=65536 HTTP/1.1\r\nHost: pod\r\n\r\n",
      read: "head",
      holdMs: 12_000
    })
  },
  {
    name: "unreadAnswersBurst",
    what:
      "the same, its process not niced: 1,024 connections at once, as fast as clients on other machines would open them",
    niced: false,
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "GET /ownership?shards=65536 HTTP/1.1\r\nHost: pod\r\n\r\n",
      read: "head",
      holdMs: 12_000
    })
  },
  {
    name: "requestsAtOnce",
    what: "3,000 GET /ownership?shards=65536 at once, each on a connection of its own (12 sources × 250)",
    flood: ({ url }) => ({
      kind: "requests",
      url: `${url}/ownership?shards=65536`,
      sources: floodSources(12),
      count: 3000
    })
  },
  {
    name: "largeBodies",
    what: "10 POST /hints of 100 MB each, streamed without a Content-Length, one after the other",
    flood: ({ url }) => ({ kind: "body", url: `${url}/hints`, source: floodSources(1)[0]!, megabytes: 100, count: 10 })
  }
]

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

/**
 * Writes the trials of {@link run} into `results.podUnderLoad` (the floods' figures, {@link recordFloods},
 * are kept) and the table's rows.
 */
export const recordPodUnderLoad = (underLoad: ReadonlyArray<Trial>, results: Record<string, any>, add: Add): void => {
  const loadSummaries = underLoad.map(summarize)
  const worst = (values: ReadonlyArray<number>) => Math.max(...values)
  results.podUnderLoad = {
    ...results.podUnderLoad,
    peers: PEERS,
    concurrency: CONCURRENCY,
    shards: SHARDS,
    healthzP50Ms: worst(loadSummaries.map((s) => s.p50)),
    healthzP99Ms: worst(loadSummaries.map((s) => s.p99)),
    healthzMaxMs: worst(loadSummaries.map((s) => s.max)),
    idleHealthzP99Ms: worst(loadSummaries.map((s) => s.idleP99)),
    sigtermExitMs: worst(underLoad.map((t) => t.sigtermExitMs)),
    exitCodes: underLoad.map((t) => t.exitCode),
    answered: underLoad.map((t) => t.answered),
    refused: underLoad.map((t) => t.refused),
    failed: underLoad.map((t) => t.failed),
    floodMs: underLoad.map((t) => t.floodMs),
    loadAverage: underLoad.map((t) => t.loadAverage)
  }
  add(
    "podUnderLoad.healthzP99Ms",
    figure(loadSummaries.map((s) => s.p99), "ms (p99 of /healthz during the flood, per trial)"),
    {
      text: "< 100 ms",
      met: results.podUnderLoad.healthzP99Ms < 100
    }
  )
  add(
    "podUnderLoad.idleHealthzP99Ms",
    figure(loadSummaries.map((s) => s.idleP99), "ms (p99 of /healthz before the flood: the machine's own noise)")
  )
  add(
    "podUnderLoad.floodMs",
    figure(
      underLoad.map((t) => t.floodMs),
      `ms for ${CONCURRENCY} requests (answered ${underLoad.map((t) => t.answered).join("/")}, 503 ${
        underLoad.map((t) => t.refused).join("/")
      })`
    )
  )
  const exitedCleanly = underLoad.every((t) => t.exitCode === 0)
  add(
    "podUnderLoad.sigtermExitMs",
    figure(
      underLoad.map((t) => t.sigtermExitMs),
      `ms from SIGTERM mid-flood to exit (codes ${underLoad.map((t) => t.exitCode).join(",")})`
    ),
    {
      text: "exit 0 < 5,000 ms",
      met: exitedCleanly && results.podUnderLoad.sigtermExitMs < 5_000
    }
  )
}
