/**
 * `pnpm --dir bench kube-rollout [--quick]` (`node --import tsx --conditions=@miroir/source
 * src/kubeRolloutOnly.ts`): only the rolling updates on real Kubernetes components, hints on and off
 * (kubeRollout.ts: hints on and off, with and without NodeLocal DNSCache; quick: the four runs at R = 4 s), merged into the existing results.json
 * under `rollout.kube` (its other figures are kept).
 * Without the components it prints why it skipped and leaves results.json as it is.
 */
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as KubeRollout from "./kubeRollout.js"
import { mergeIntoResults } from "./resultsFile.js"
import { recordKubeRollout } from "./rolloutFigures.js"

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    console.log("rolling updates on real Kubernetes components, refresh hints on and off…")
    const outcome = yield* KubeRollout.run(quick)
    if (outcome._tag === "Skipped") {
      console.log(`skipped: ${outcome.reason}`)
      return
    }
    yield* mergeIntoResults((document, add) => Effect.sync(() => recordKubeRollout(outcome, document, add)))
  })

runCommand(
  "kubeRolloutOnly",
  "Runs only the rolling updates on real Kubernetes components and merges their figures into bench/results.json.",
  program
)
