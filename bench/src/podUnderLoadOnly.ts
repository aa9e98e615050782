/**
 * `pnpm --dir bench pod-under-load [--quick]` (`node --import tsx --conditions=@miroir/source
 * src/podUnderLoadOnly.ts`): only the pod under load (podUnderLoad.ts: the 200 concurrent `/ownership`
 * with SIGTERM mid-flood, 5 trials, then the floods of its HTTP server, about 3 minutes a trial, 3
 * trials; 2 and 1 when quick), merged into the existing results.json under `podUnderLoad` (its other
 * figures are kept), with the machine's load average as each flood started.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as PodUnderLoad from "./podUnderLoad.js"
import type { Add } from "./rolloutFigures.js"

const resultsPath = fileURLToPath(new URL("../results.json", import.meta.url))

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const load = () => loadavg().map((l) => l.toFixed(2)).join(", ")
    const started = Date.now()
    console.log(`a pod under 200 concurrent /ownership?shards=65536, SIGTERM mid-flood (load average ${load()})…`)
    const underLoad = yield* PodUnderLoad.run(quick)
    console.log(`floods of a pod's HTTP server (load average ${load()})…`)
    const floods = yield* PodUnderLoad.runFloods(quick)
    const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
    const rows: Array<Record<string, unknown>> = []
    const add: Add = (key, value, target) =>
      void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
    PodUnderLoad.recordPodUnderLoad(underLoad, document, add)
    PodUnderLoad.recordFloods(floods, document, add)
    document.podUnderLoad.measuredAt = new Date().toISOString()
    document.podUnderLoad.durationSeconds = Math.round((Date.now() - started) / 1000)
    document.podUnderLoad.quick = quick
    const replaced = new Set(rows.map((row) => row.key))
    document.figures = [...(document.figures ?? []).filter((row: { key: string }) => !replaced.has(row.key)), ...rows]
    writeFileSync(resultsPath, `${JSON.stringify(document, null, 2)}\n`)
    console.table(
      rows.map((row) => ({
        figure: row.key,
        value: row.value,
        unit: row.unit,
        spread: `${row.min} – ${row.max}`,
        target: row.target ? `${row.target}: ${row.met ? "met" : "MISSED"}` : ""
      }))
    )
  })

runCommand(
  "podUnderLoadOnly",
  "Runs only the pod under load (200 concurrent /ownership, then the floods of its HTTP server) and merges its figures into bench/results.json.",
  program
)
