/**
 * `pnpm --dir bench floods [--quick]` (`node --import tsx --conditions=@miroir/source src/floodsOnly.ts`):
 * only the floods of a pod's HTTP server (podUnderLoad.ts's runFloods: about 2.5 minutes a trial, 3 trials,
 * 1 when quick), merged into the existing results.json under `podUnderLoad.floods` (its other figures are
 * kept), with the machine's load average as each flood started.
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
    console.log(`floods of a pod's HTTP server (load average ${loadavg().map((l) => l.toFixed(2)).join(", ")})…`)
    const started = Date.now()
    const trials = yield* PodUnderLoad.runFloods(quick)
    const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
    const rows: Array<Record<string, unknown>> = []
    const add: Add = (key, value, target) =>
      void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
    PodUnderLoad.recordFloods(trials, document, add)
    document.podUnderLoad.floodsMeasuredAt = new Date().toISOString()
    document.podUnderLoad.floodsDurationSeconds = Math.round((Date.now() - started) / 1000)
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
  "floodsOnly",
  "Runs only the floods of a pod's HTTP server and merges their figures into bench/results.json.",
  program
)
