/**
 * `pnpm bench [--quick]`: runs every benchmark, prints a table and writes bench/results.json (machine,
 * Node version, date, each figure with its unit, spread and number of trials). Benchmarks are scripts,
 * not tests: their figures vary with the machine; a missed target is reported, never hidden.
 */
import { writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { resultsPath } from "./resultsFile.js"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as Convergence from "./convergence.js"
import * as Lookup from "./lookup.js"
import * as Memory from "./memory.js"
import * as Ownership from "./ownership.js"
import * as ProbeCost from "./probeCost.js"
import * as PodFloods from "./podFloods.js"
import * as PodUnderLoad from "./podUnderLoad.js"
import * as KubeRollout from "./kubeRollout.js"
import * as Rollout from "./rollout.js"
import { recordKubeRollout, recordRollout, recordShards, recordThroughput } from "./rolloutFigures.js"
import { type Figure, figure } from "./stats.js"

/** One line of the table and of results.json's `figures`. */
interface Row {
  readonly key: string
  readonly figure: Figure
  readonly target?: { readonly text: string; readonly met: boolean }
}

const rows: Array<Row> = []
const add = (key: string, value: Figure, target?: Row["target"]) =>
  void rows.push({ key, figure: value, ...(target ? { target } : {}) })
const single = (value: number, unit: string): Figure => ({ value, min: value, max: value, trials: 1, unit })
const round = (value: number) => (Math.abs(value) >= 100 ? Math.round(value) : Number(value.toPrecision(3)))

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const started = Date.now()
    console.log(
      `benchmarks${quick ? " (quick)" : ""} on ${cpus().length} × ${
        cpus()[0]?.model ?? "unknown CPU"
      }, Node ${process.version}`
    )

    console.log("ownership throughput…")
    const results: Record<string, any> = { ownership: {} }
    recordThroughput(Ownership.run(quick), results, add)

    console.log("convergence (real pod processes on the simulator)…")
    const convergence = yield* Convergence.run(quick)
    results.convergence = {}
    for (const run of convergence) {
      const summary = Convergence.summarize(run)
      const key = `convergence.r${run.intervalMs}ms.${run.change}`
      results.convergence[`r${run.intervalMs}ms`] ??= {}
      results.convergence[`r${run.intervalMs}ms`][run.change] = {
        p50Ms: summary.p50,
        maxMs: summary.max,
        p50Ratio: summary.p50Ratio,
        maxRatio: summary.maxRatio
      }
      add(`${key}.ms`, figure(run.samplesMs, "ms"))
      add(`${key}.maxRatio`, single(summary.maxRatio, "× R"), { text: "≤ 1.25 R", met: summary.maxRatio <= 1.25 })
    }
    const summaries = convergence.map(Convergence.summarize)
    results.convergence.maxRatio = Math.max(...summaries.map((s) => s.maxRatio))
    results.convergence.p50Ratio = Math.max(...summaries.map((s) => s.p50Ratio))
    add("convergence.maxRatio", single(results.convergence.maxRatio, "× R (worst max)"), {
      text: "≤ 1.25 R",
      met: results.convergence.maxRatio <= 1.25
    })
    add("convergence.p50Ratio", single(results.convergence.p50Ratio, "× R (worst p50)"))

    console.log("lookup cost (unbound and the simulator's DNS)…")
    const lookup = yield* Lookup.run(quick)
    results.lookup = {}
    for (const run of lookup.runs) {
      const { p50, p99 } = Lookup.summarize(run)
      const key = `records${run.records}`
      if (run.server === "unbound") {
        results.lookup[key] = { p50Ms: p50, p99Ms: p99, received: run.received, outcome: run.outcome }
      }
      results.lookup.simulator ??= {}
      if (run.server === "simulator") {
        results.lookup.simulator[key] = { p50Ms: p50, p99Ms: p99, received: run.received, outcome: run.outcome }
      }
      results.lookup.nodeDns ??= {}
      if (run.server === "nodeDns") {
        results.lookup.nodeDns[key] = { p50Ms: p50, p99Ms: p99, received: run.received, outcome: run.outcome }
      }
      const whole = run.outcome === "ok" && run.received === run.records
      add(
        `lookup.${run.server}.${key}.p50Ms`,
        figure(run.latenciesMs, whole ? "ms" : `ms (${run.outcome}, ${run.received} of ${run.records} records)`),
        run.records === 1000 && run.server === "unbound" ? { text: "< 25 ms", met: p50 < 25 && whole } : undefined
      )
      add(`lookup.${run.server}.${key}.p99Ms`, single(p99, "ms"))
    }
    const unboundLimit = lookup.limits.find((limit) => limit.server === "unbound")!
    results.lookup.largestWholeAnswer = unboundLimit.largestWhole
    results.lookup.limits = lookup.limits
    for (const limit of lookup.limits) {
      add(`lookup.${limit.server}.largestWholeAnswer`, single(limit.largestWhole, `records; past it ${limit.past}`))
    }

    console.log("memory and CPU over time (one pod process)…")
    const memory = yield* Memory.run(quick)
    results.memory = {
      refreshes: memory.refreshes,
      rssStartMb: memory.rssStartMb,
      rssEndMb: memory.rssEndMb,
      rssGrowthMb: memory.rssGrowthMb,
      heapStartMb: memory.heapStartMb,
      heapEndMb: memory.heapEndMb,
      cpuSecondsPer1000Refreshes: memory.cpuSecondsPer1000Refreshes.value,
      idleCpuPercent: memory.idleCpuPercent.value
    }
    // A quick run (about 30 s) ends before V8's first major collection, so its growth is garbage not yet
    // collected: the leak target is judged on full runs only.
    add(
      "memory.rssGrowthMb",
      single(
        memory.rssGrowthMb,
        `MB over ${memory.refreshes} refreshes (RSS ${round(memory.rssStartMb)} → ${round(memory.rssEndMb)} MB)${
          quick ? "; quick runs end before the first major GC: not judged" : ""
        }`
      ),
      quick ? undefined : { text: "< 5 MB", met: memory.rssGrowthMb < 5 }
    )
    add(
      "memory.heapGrowthMb",
      single(
        memory.heapEndMb - memory.heapStartMb,
        `MB (heap ${round(memory.heapStartMb)} → ${round(memory.heapEndMb)} MB)`
      )
    )
    add("memory.cpuSecondsPer1000Refreshes", memory.cpuSecondsPer1000Refreshes)
    add("memory.idleCpuPercent", memory.idleCpuPercent)

    console.log(
      `a pod under load (${PodUnderLoad.PEERS} peers, ${PodUnderLoad.CONCURRENCY} concurrent /ownership?shards=${PodUnderLoad.SHARDS})…`
    )
    PodUnderLoad.recordPodUnderLoad(yield* PodUnderLoad.run(quick), results, add)

    console.log("floods of a pod's HTTP server (issue 18: past every limit, the chart's heap)…")
    PodFloods.recordFloods(yield* PodFloods.runFloods(quick), results, add)

    console.log("ownedShards at 65,536 shards and 300 peers…")
    recordShards(Ownership.runShards(quick), results, add)
    console.log("rolling updates on the simulator, refresh hints on and off…")
    recordRollout(yield* Rollout.run(quick), results, add)
    console.log("rolling updates on real Kubernetes components, refresh hints on and off…")
    const kubeRollout = yield* KubeRollout.run(quick)
    if (kubeRollout._tag === "Skipped") console.log(`  skipped: ${kubeRollout.reason}`)
    recordKubeRollout(kubeRollout, results, add)
    console.log("what failure detection costs a pod, at 3, 50 and 300 pods (TestClock)…")
    ProbeCost.recordProbeCost(yield* ProbeCost.run(quick), results, add)

    const document = {
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? "unknown",
        memoryGb: Math.round(totalmem() / 1024 ** 3),
        platform: process.platform,
        arch: process.arch
      },
      node: process.version,
      date: new Date().toISOString(),
      quick,
      durationSeconds: Math.round((Date.now() - started) / 1000),
      ...results,
      figures: rows.map((row) => ({
        key: row.key,
        ...row.figure,
        ...(row.target ? { target: row.target.text, met: row.target.met } : {})
      }))
    }
    writeFileSync(resultsPath, `${JSON.stringify(document, null, 2)}\n`)
    console.table(rows.map((row) => ({
      figure: row.key,
      value: round(row.figure.value),
      unit: row.figure.unit,
      spread: row.figure.trials > 1 ? `${round(row.figure.min)} – ${round(row.figure.max)}` : "",
      trials: row.figure.trials,
      target: row.target ? `${row.target.text}: ${row.target.met ? "met" : "MISSED"}` : ""
    })))
    console.log(`wrote ${resultsPath} in ${document.durationSeconds} s`)
  })

runCommand("pnpm bench", "Runs every benchmark, prints a table and writes bench/results.json.", program)
