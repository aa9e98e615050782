/**
 * `node --import tsx --conditions=@miroir/source src/rolloutOnly.ts [--quick]`: only the ownership
 * (`ownerOf` throughput, `ownedShards`) and rolling-update benchmarks, merged into the existing
 * results.json (its other figures are kept), for when the whole `pnpm bench` would take too long.
 */
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as Ownership from "./ownership.js"
import * as Rollout from "./rollout.js"
import { mergeIntoResults } from "./resultsFile.js"
import { recordRollout, recordShards, recordThroughput } from "./rolloutFigures.js"

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    yield* mergeIntoResults((document, add) =>
      Effect.gen(function*() {
        console.log("ownerOf throughput…")
        recordThroughput(Ownership.run(quick), document, add)
        console.log("ownedShards at 65,536 shards and 300 peers…")
        recordShards(Ownership.runShards(quick), document, add)
        console.log("rolling updates on the simulator, hints on and off…")
        recordRollout(yield* Rollout.run(quick), document, add)
        document.rolloutMeasuredAt = new Date().toISOString()
      })
    )
  })

runCommand(
  "rolloutOnly",
  "Runs only the rolling-update and ownedShards benchmarks and merges their figures into bench/results.json.",
  program
)
