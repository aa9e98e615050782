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

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const costs = yield* ProbeCost.run(quick)
    for (const cost of costs) {
      if (!cost.deadHeldDown) console.log(`at ${cost.pods} pods, some pod did not hold the dead one down`)
    }
    yield* mergeIntoResults((document, add) => Effect.sync(() => ProbeCost.recordProbeCost(costs, document, add)))
  })

runCommand(
  "probeCostOnly",
  "Counts the failure detector's requests per pod at 3, 50 and 300 pods on TestClock and merges them into bench/results.json.",
  program
)
