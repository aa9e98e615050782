/**
 * `pnpm --dir bench probe-cost [--quick]`: what failure detection costs a pod in requests at 3, 50 and 300
 * pods (probeCost.ts; 50 at most when quick), merged into bench/results.json under `healing.probeCost` and the
 * rows `healing.probeCost.n<N>.*` (its other figures kept). Target: at most 2 requests sent per pod and second
 * while every pod is alive, whatever the count (one ping a second, SWIM's constant load).
 */
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as ProbeCost from "./probeCost.js"
import { mergeIntoResults } from "./resultsFile.js"
import type { Add } from "./rolloutFigures.js"
import type { Figure } from "./stats.js"

/** Requests a pod may send per second while all are alive: one ping a second, and a margin for nothing else. */
const STEADY_TARGET = 2

const single = (value: number, unit: string): Figure => ({
  value: Number(value.toPrecision(3)),
  min: Number(value.toPrecision(3)),
  max: Number(value.toPrecision(3)),
  trials: 1,
  unit
})

/** Writes the costs into `results.healing.probeCost` and the rows. */
export const recordProbeCost = (costs: ReadonlyArray<ProbeCost.ProbeCost>, results: Record<string, any>, add: Add) => {
  results.healing ??= {}
  results.healing.probeCost = { phaseSeconds: 60, measuredAt: new Date().toISOString() }
  for (const cost of costs) {
    results.healing.probeCost[`n${cost.pods}`] = cost
    const key = `healing.probeCost.n${cost.pods}`
    add(`${key}.allAlive.sentPerSecond`, single(cost.allAlive.sentPerSecond.max, "req/s per pod (max)"), {
      text: `≤ ${STEADY_TARGET}`,
      met: cost.allAlive.sentPerSecond.max <= STEADY_TARGET
    })
    add(`${key}.allAlive.receivedPerSecond`, single(cost.allAlive.receivedPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.sentPerSecond`, single(cost.oneDead.sentPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.receivedPerSecond`, single(cost.oneDead.receivedPerSecond.max, "req/s per pod (max)"))
    add(`${key}.oneDead.indirectPerSecond`, single(cost.oneDead.indirectPerSecond, "req/s per pod (mean)"))
  }
}

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const costs = yield* ProbeCost.run(quick)
    for (const cost of costs) {
      if (!cost.deadHeldDown) console.log(`at ${cost.pods} pods, some pod did not hold the dead one down`)
    }
    yield* mergeIntoResults((document, add) => Effect.sync(() => recordProbeCost(costs, document, add)))
  })

runCommand(
  "probeCostOnly",
  "Counts the failure detector's requests per pod at 3, 50 and 300 pods on TestClock and merges them into bench/results.json.",
  program
)
