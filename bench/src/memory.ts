/**
 * Memory and CPU over time: one pod process doing 10,000 refreshes at a 10 ms interval against a
 * 100-record answer (every lookup takes the TCP retry), its RSS and heap at the start and at the end
 * (target: growth under 5 MB, i.e. no leak), and CPU seconds per 1,000 refreshes; then the idle CPU of a
 * pod at the default R = 15 s over one minute. RSS and CPU are read from /proc by the pod's pid every
 * 250 ms; refreshes and heap from its /metrics.
 *
 * "At the start" and "at the end" are the lowest readings in the first and the last fifth of the run,
 * so that single readings do not measure the collector's timing. Both pods run with the heap the chart
 * gives V8 (`--max-old-space-size=128`, half of the 256Mi limit): left to size its heap from this
 * machine's 24 GiB, V8 let garbage pile up for minutes between major collections (RSS swinging between
 * 150 and 192 MB over 28,000 refreshes and back to 152 MB), longer than the run, so the floors of its
 * fifths measured where the swing happened to be, not a leak (RSS flat at 148 MB with the chart's heap).
 *
 * The idle pod is listed in DNS, as a running pod is: one that is not looks itself up every 500 ms for its
 * first two minutes (PeerDiscovery's untilListed), which is not idle. Its hints and audit are off: its
 * 100 peers exist only in DNS, at addresses nothing here may connect to.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ClusterDns from "@miroir/cluster-sim/simulator/ClusterDns"
import { type PodProcess, podSpec } from "@miroir/cluster-sim/simulator/SimulatedPod"
import { bundle as bundlePodService } from "@miroir/miroir/bundle"
import { metricSum, metricValue } from "@miroir/process-kit/metricsText"
import { scopedPod } from "@miroir/process-kit/PodProcess"
import { pollUntil } from "@miroir/process-kit/Poll"
import { Duration, Effect } from "effect"
import { CHART_HEAP, cpuSeconds, MB, rssBytes } from "./procStats.js"
import { type Figure, figure } from "./stats.js"

/** What the run measured. */
export interface MemoryResult {
  readonly refreshes: number
  readonly rssStartMb: number
  readonly rssEndMb: number
  readonly rssGrowthMb: number
  readonly heapStartMb: number
  readonly heapEndMb: number
  /** One value per fifth of the run. */
  readonly cpuSecondsPer1000Refreshes: Figure
  /** One value per window of the idle run. */
  readonly idleCpuPercent: Figure
}

/** The pod's own counters: lookups so far (every result) and V8 heap in use. */
const scrape = (pod: PodProcess) =>
  Effect.promise(async () => {
    const text = await (await fetch(pod.metricsUrl)).text()
    const lookups = metricSum(text, "miroir_peer_discovery_lookups_total")
    return { lookups, heap: metricValue(text, "nodejs_heap_used_bytes") ?? Number.NaN }
  })

const waitForLookups = (pod: PodProcess, atLeast: number) =>
  pollUntil(`${atLeast} lookups by the pod at ${pod.url}`, scrape(pod), (now) => now.lookups >= atLeast, {
    timeout: Duration.minutes(2),
    interval: Duration.millis(250)
  })

const podWith = (
  bundle: string,
  dns: ClusterDns.ClusterDns,
  ip: string,
  env: Record<string, string>,
  logFolder: string
) =>
  scopedPod(
    podSpec({
      bundle,
      name: `miroir-bench-${ip.split(".").pop()}`,
      ip,
      logFolder,
      env: { MIROIR_DNS_SERVERS: dns.server, MIROIR_LOG_LEVEL: "error", NODE_OPTIONS: CHART_HEAP, ...env }
    }),
    { timeout: Duration.seconds(10) }
  )

/** Runs the benchmark: 10,000 refreshes and a minute idle (3,000 and 15 s in quick mode). */
export const run = (quick: boolean): Effect.Effect<MemoryResult, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const logFolder = mkdtempSync(join(tmpdir(), "miroir-bench-memory-"))
    const bundle = yield* Effect.promise(() => bundlePodService(join(logFolder, "miroir.mjs")))
    const dns = yield* ClusterDns.make()
    const others = Array.from({ length: 100 }, (_, i) => ({ ip: `10.0.${i >> 8}.${(i & 255) + 1}` }))
    dns.setEndpoints(others)

    const refreshes = quick ? 3_000 : 10_000
    const busy = yield* podWith(bundle, dns, "127.0.0.201", {
      MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "10ms",
      MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "8ms"
    }, logFolder)
    const pid = busy.process.child.pid!
    const warm = yield* waitForLookups(busy, 500)
    const samples: Array<{ lookups: number; rss: number; heap: number; cpu: number }> = []
    while (samples.length === 0 || samples.at(-1)!.lookups < warm.lookups + refreshes) {
      const now = yield* scrape(busy)
      samples.push({ lookups: now.lookups, rss: rssBytes(pid), heap: now.heap, cpu: cpuSeconds(pid) })
      yield* Effect.sleep("250 millis")
    }
    const fifth = (k: number) =>
      samples.filter((sample) =>
        sample.lookups >= warm.lookups + (refreshes * k) / 5 &&
        sample.lookups <= warm.lookups + (refreshes * (k + 1)) / 5
      )
    const floor = (window: ReadonlyArray<{ rss: number; heap: number }>, key: "rss" | "heap") =>
      Math.min(...window.map((sample) => sample[key]))
    const [first, last] = [fifth(0), fifth(4)]
    const perThousand = [0, 1, 2, 3, 4].map((k) => {
      const window = fifth(k)
      const [from, to] = [window[0]!, window.at(-1)!]
      return ((to.cpu - from.cpu) / Math.max(1, to.lookups - from.lookups)) * 1_000
    })
    const lookups = samples.at(-1)!.lookups

    dns.setEndpoints([...others, { ip: "127.0.0.202" }])
    const idle = yield* podWith(bundle, dns, "127.0.0.202", {
      MIROIR_PEER_HINTS: "off",
      MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off"
    }, logFolder)
    yield* Effect.sleep("2 seconds")
    const windowMs = quick ? 5_000 : 10_000
    const windows = quick ? 3 : 6
    const idlePercent: Array<number> = []
    for (let i = 0; i < windows; i++) {
      const before = cpuSeconds(idle.process.child.pid!)
      yield* Effect.sleep(windowMs)
      idlePercent.push(((cpuSeconds(idle.process.child.pid!) - before) / (windowMs / 1_000)) * 100)
    }
    return {
      refreshes: lookups - warm.lookups,
      rssStartMb: floor(first, "rss") / MB,
      rssEndMb: floor(last, "rss") / MB,
      rssGrowthMb: (floor(last, "rss") - floor(first, "rss")) / MB,
      heapStartMb: floor(first, "heap") / MB,
      heapEndMb: floor(last, "heap") / MB,
      cpuSecondsPer1000Refreshes: figure(perThousand, "CPU s per 1,000 refreshes"),
      idleCpuPercent: figure(idlePercent, "% of one core")
    }
  }))
