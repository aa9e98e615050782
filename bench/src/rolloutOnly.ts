/**
 * `node --import tsx --conditions=@miroir/source src/rolloutOnly.ts [--quick]`: only the rolling-update
 * and `ownedShards` benchmarks, merged into the existing results.json (its other figures are kept), for
 * when the whole `pnpm bench` would take too long.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect, Fiber } from "effect"
import * as Ownership from "./ownership.js"
import * as Rollout from "./rollout.js"
import { type Add, recordRollout, recordShards } from "./rolloutFigures.js"

const quick = process.argv.includes("--quick")
const resultsPath = fileURLToPath(new URL("../results.json", import.meta.url))

const program = Effect.gen(function*() {
  const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
  const rows: Array<Record<string, unknown>> = []
  const add: Add = (key, value, target) => void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
  console.log("ownedShards at 65,536 shards and 300 peers…")
  recordShards(Ownership.runShards(quick), document, add)
  console.log("rolling updates on the simulator, hints on and off…")
  recordRollout(yield* Rollout.run(quick), document, add)
  const replaced = new Set(rows.map((row) => row.key))
  document.figures = [...(document.figures ?? []).filter((row: { key: string }) => !replaced.has(row.key)), ...rows]
  document.rolloutMeasuredAt = new Date().toISOString()
  writeFileSync(resultsPath, `${JSON.stringify(document, null, 2)}\n`)
  console.table(rows.map((row) => ({ figure: row.key, value: row.value, unit: row.unit, spread: `${row.min} – ${row.max}`, target: row.target ? `${row.target}: ${row.met ? "met" : "MISSED"}` : "" })))
})

// Interrupted on SIGINT/SIGTERM, so that the simulated clusters' scopes close and stop their pods.
const fiber = Effect.runFork(program.pipe(
  Effect.catchAllCause((cause) => Effect.sync(() => {
    console.error(String(cause))
    process.exitCode = 1
  }))
))
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => Effect.runFork(Fiber.interrupt(fiber)))
