/**
 * `pnpm --dir bench healing [--quick]` (`node --import tsx --conditions=@miroir/source src/healingOnly.ts`):
 * only the healing benchmark on real Kubernetes components (healing.ts: crashes, freezes, partitions, a
 * dead node, the failure detector off then on), merged into the existing results.json under `healing`
 * (its other figures are kept). Without the components it prints why it skipped and leaves results.json
 * as it is. Starts real nodes: run it under `flock /tmp/miroir-kube.lock`, one kube run at a time.
 */
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as Healing from "./healing.js"
import { recordHealing } from "./healingFigures.js"
import { mergeIntoResults } from "./resultsFile.js"

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    console.log("healing on real Kubernetes components, the failure detector off then on…")
    const outcome = yield* Healing.run(quick)
    if (outcome._tag === "Skipped") {
      console.log(`skipped: ${outcome.reason}`)
      return
    }
    yield* mergeIntoResults((document, add) => Effect.sync(() => recordHealing(outcome, document, add)))
  })

runCommand(
  "healingOnly",
  "Runs only the healing benchmark on real Kubernetes components and merges its figures into bench/results.json.",
  program
)
