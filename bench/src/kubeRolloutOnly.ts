/**
 * `pnpm --dir bench kube-rollout [--quick]` (`node --import tsx --conditions=@miroir/source
 * src/kubeRolloutOnly.ts`): only the rolling updates on real Kubernetes components, hints on and off
 * (kubeRollout.ts: about four minutes, two when quick), merged into the existing results.json
 * under `rollout.kube` (its other figures are kept).
 * Without the components it prints why it skipped and leaves results.json as it is.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { runCommand } from "./BenchCommand.js"
import * as KubeRollout from "./kubeRollout.js"
import { type Add, recordKubeRollout } from "./rolloutFigures.js"

const resultsPath = fileURLToPath(new URL("../results.json", import.meta.url))

const program = ({ quick }: { readonly quick: boolean }) =>
  Effect.gen(function*() {
    console.log("rolling updates on real Kubernetes components, refresh hints on and off…")
    const outcome = yield* KubeRollout.run(quick)
    if (outcome._tag === "Skipped") {
      console.log(`skipped: ${outcome.reason}`)
      return
    }
    const document = JSON.parse(readFileSync(resultsPath, "utf8")) as Record<string, any>
    const rows: Array<Record<string, unknown>> = []
    const add: Add = (key, value, target) =>
      void rows.push({ key, ...value, ...(target ? { target: target.text, met: target.met } : {}) })
    recordKubeRollout(outcome, document, add)
    const replaced = new Set(rows.map((row) => row.key))
    document.figures = [...(document.figures ?? []).filter((row: { key: string }) => !replaced.has(row.key)), ...rows]
    writeFileSync(resultsPath, `${JSON.stringify(document, null, 2)}\n`)
    console.table(rows.map((row) => ({ figure: row.key, value: row.value, unit: row.unit })))
  })

runCommand(
  "kubeRolloutOnly",
  "Runs only the rolling updates on real Kubernetes components and merges their figures into bench/results.json.",
  program
)
