/**
 * `pnpm --dir bench generation [--quick]` (`node --import tsx --conditions=@miroir/source src/generationOnly.ts`):
 * Effect 3 against Effect 4 in one run (generation.ts: about 45 minutes with both test suites, 3 when quick),
 * merged into the existing results.json under `generation` (its other figures are kept), with the rows of the
 * table and the issue's bounds on Effect 4: no figure worse than Effect 3's by more than 10 %, an idle RSS of at
 * most 80 MB and at most 5 CPU seconds per 1,000 refreshes.
 */
import { loadavg } from "node:os"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as Generation from "./generation.js"
import { mergeIntoResults } from "./resultsFile.js"
import type { Add } from "./rolloutFigures.js"
import type { Figure } from "./stats.js"

const single = (value: number, unit: string): Figure => ({ value, min: value, max: value, trials: 1, unit })

/** The figures of one generation, by results.json key, lower better unless `higherIsBetter`. */
const rowsOf = (figures: Generation.GenerationFigures) => [
  { name: "bundleKb", figure: single(figures.bundleKb, "KiB") },
  { name: "idleRssMb", figure: figures.idleRssMb },
  { name: "peakRssMb", figure: single(figures.peakRssMb, "MB") },
  { name: "cpuSecondsPer1000Refreshes", figure: figures.cpuSecondsPer1000Refreshes },
  { name: "ownerOfOpsPerSec", figure: figures.ownerOfOpsPerSec, higherIsBetter: true },
  ...(figures.testWallSeconds === undefined
    ? []
    : [{ name: "testWallSeconds", figure: single(figures.testWallSeconds, "s") }])
]

/** The goals of the issue beyond the floor, on Effect 4's figures. */
const GOALS: Readonly<Record<string, number>> = { idleRssMb: 80, cpuSecondsPer1000Refreshes: 5 }

/** Writes the run into `results.generation` and the rows, with the floor and goals as targets on Effect 4's. */
export const recordGeneration = (run: Generation.GenerationRun, results: Record<string, any>, add: Add): void => {
  const before = new Map(rowsOf(run.figures.effect3).map((row) => [row.name, row.figure.value]))
  results.generation = { windowSeconds: run.windowSeconds }
  for (const generation of Generation.GENERATIONS) {
    const figures = run.figures[generation]
    results.generation[generation] = { source: figures.source, refreshes: figures.refreshes }
    for (const row of rowsOf(figures)) {
      results.generation[generation][row.name] = row.figure.value
      if (generation === "effect3") {
        add(`generation.effect3.${row.name}`, row.figure)
        continue
      }
      const floor = row.higherIsBetter ? before.get(row.name)! * 0.9 : before.get(row.name)! * 1.1
      const goal = GOALS[row.name]
      const bound = goal === undefined ? floor : Math.min(floor, goal)
      const met = row.higherIsBetter ? row.figure.value >= bound : row.figure.value <= bound
      const text = `${row.higherIsBetter ? "≥" : "≤"} ${bound.toPrecision(3)}${
        goal === undefined ? " (Effect 3 ± 10 %)" : bound === goal ? " (goal)" : " (Effect 3 + 10 %)"
      }`
      add(`generation.effect4.${row.name}`, row.figure, { text, met })
    }
  }
}

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const started = Date.now()
    const load = loadavg().map((l) => l.toFixed(2)).join(", ")
    console.log(`Effect 3 (${Generation.EFFECT3_COMMIT}) against Effect 4 (this tree), load average ${load}…`)
    const run = yield* Generation.run(quick)
    yield* mergeIntoResults((document, add) =>
      Effect.sync(() => {
        recordGeneration(run, document, add)
        Object.assign(document.generation, {
          measuredAt: new Date().toISOString(),
          durationSeconds: Math.round((Date.now() - started) / 1000),
          quick,
          node: process.version
        })
      })
    )
  })

runCommand(
  "generationOnly",
  "Measures Effect 3 (the last commit on it, in a git worktree) against Effect 4 (this tree) side by side and merges the figures into bench/results.json.",
  program
)
