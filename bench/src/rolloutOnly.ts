/**
 * `node --import tsx --conditions=@miroir/source src/rolloutOnly.ts [--quick]`: only the ownership
 * (`ownerOf` throughput, `ownedShards`) and rolling-update benchmarks, merged into the existing
 * results.json (its other figures are kept), for when the whole `pnpm bench` would take too long.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as Ownership from "./ownership.js"
import * as Rollout from "./rollout.js"
import { type Add, recordRollout, recordShards, recordThroughput } from "./rolloutFigures.js"

const resultsPath = fileURLToPath(new URL("../results.json", import.meta.url))

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
    const rows: Array<Record<string, unknown>> = []
    const add: Add = (key, value, target) =>
      void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
    console.log("ownerOf throughput…")
    recordThroughput(Ownership.run(quick), document, add)
    console.log("ownedShards at 65,536 shards and 300 peers…")
    recordShards(Ownership.runShards(quick), document, add)
    console.log("rolling updates on the simulator, hints on and off…")
    recordRollout(yield* Rollout.run(quick), document, add)
    const replaced = new Set(rows.map((row) => row.key))
    document.figures = [...(document.figures ?? []).filter((row: { key: string }) => !replaced.has(row.key)), ...rows]
    document.rolloutMeasuredAt = new Date().toISOString()
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
  "rolloutOnly",
  "Runs only the rolling-update and ownedShards benchmarks and merges their figures into bench/results.json.",
  program
)
