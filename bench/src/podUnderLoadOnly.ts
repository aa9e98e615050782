/**
 * `pnpm --dir bench pod-under-load [--quick]` (`node --import tsx --conditions=@miroir/source
 * src/podUnderLoadOnly.ts`): only the pod under load (podUnderLoad.ts: the 200 concurrent `/ownership`
 * with SIGTERM mid-flood, 5 trials, then the floods of its HTTP server, about 3 minutes a trial, 3
 * trials; 2 and 1 when quick), merged into the existing results.json under `podUnderLoad` (its other
 * figures are kept), with the machine's load average as each flood started.
 */
import { loadavg } from "node:os"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as PodFloods from "./podFloods.js"
import * as PodUnderLoad from "./podUnderLoad.js"
import { mergeIntoResults } from "./resultsFile.js"

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    const load = () => loadavg().map((l) => l.toFixed(2)).join(", ")
    const started = Date.now()
    console.log(`a pod under 200 concurrent /ownership?shards=65536, SIGTERM mid-flood (load average ${load()})…`)
    const underLoad = yield* PodUnderLoad.run(quick)
    console.log(`floods of a pod's HTTP server (load average ${load()})…`)
    const floods = yield* PodFloods.runFloods(quick)
    yield* mergeIntoResults((document, add) =>
      Effect.sync(() => {
        PodUnderLoad.recordPodUnderLoad(underLoad, document, add)
        PodFloods.recordFloods(floods, document, add)
        document.podUnderLoad.measuredAt = new Date().toISOString()
        document.podUnderLoad.durationSeconds = Math.round((Date.now() - started) / 1000)
        document.podUnderLoad.quick = quick
      })
    )
  })

runCommand(
  "podUnderLoadOnly",
  "Runs only the pod under load (200 concurrent /ownership, then the floods of its HTTP server) and merges its figures into bench/results.json.",
  program
)
