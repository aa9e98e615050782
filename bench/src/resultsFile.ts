/**
 * bench/results.json for the commands that measure only some figures (`rolloutOnly.ts`, `kubeRolloutOnly.ts`,
 * `podUnderLoadOnly.ts`, `generationOnly.ts`): their figures are merged into the file, the others kept.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { Add } from "./rolloutFigures.js"

/** Where `pnpm bench` writes its results. */
export const resultsPath = fileURLToPath(new URL("../results.json", import.meta.url))

/** A row of the table, as results.json's `figures` keeps it. */
interface Row extends Record<string, unknown> {
  readonly key: string
}

/**
 * Reads results.json, lets `record` write its sections and add its rows, replaces the rows of the same keys in
 * `figures`, writes the file back and prints the rows.
 */
export const mergeIntoResults = <E, R>(
  record: (document: Record<string, any>, add: Add) => Effect.Effect<void, E, R>
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    const add: Add = (key, value, target) =>
      void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
    const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
    yield* record(document, add)
    const replaced = new Set(rows.map((row) => row.key))
    document.figures = [...(document.figures ?? []).filter((row: Row) => !replaced.has(row.key)), ...rows]
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
