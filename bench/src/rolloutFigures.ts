/**
 * The figures of ownership (`ownerOf` throughput, `ownedShards` at 65,536 shards and 300 peers) and of
 * the rolling-update benchmarks (the simulator's, and the real cluster's under `rollout.kube`), as
 * results.json keys and table rows; shared by `pnpm bench` (main.ts), `rolloutOnly.ts` and
 * `kubeRolloutOnly.ts`, which measure only some and merge them into an existing results.json.
 */
import type { Figure } from "./stats.js"
import { figure } from "./stats.js"
import * as KubeRollout from "./kubeRollout.js"
import * as Ownership from "./ownership.js"
import * as Rollout from "./rollout.js"

/** A row of the table: key, figure, target. */
export type Add = (key: string, value: Figure, target?: { readonly text: string; readonly met: boolean }) => void

const single = (value: number, unit: string): Figure => ({ value, min: value, max: value, trials: 1, unit })

/** Writes the `ownerOf` throughput per peer count into `results.ownership` and the rows (targets at 24 peers). */
export const recordThroughput = (
  rows: ReadonlyArray<Ownership.OwnershipFigures>,
  results: Record<string, any>,
  add: Add
): void => {
  results.ownership ??= {}
  for (const row of rows) {
    const speedUp = row.opsPerSec.value / row.baselineOpsPerSec.value
    results.ownership[`peers${row.peers}`] = {
      opsPerSec: row.opsPerSec.value,
      baselineOpsPerSec: row.baselineOpsPerSec.value,
      speedUp
    }
    const is24 = row.peers === 24
    add(
      `ownership.peers${row.peers}.opsPerSec`,
      row.opsPerSec,
      is24 ? { text: "≥ 2,000,000", met: row.opsPerSec.value >= 2_000_000 } : undefined
    )
    add(`ownership.peers${row.peers}.baselineOpsPerSec`, row.baselineOpsPerSec)
    add(
      `ownership.peers${row.peers}.speedUp`,
      single(speedUp, "×"),
      is24 ? { text: "≥ 10×", met: speedUp >= 10 } : undefined
    )
  }
}

/** Writes the `ownedShards` figures into `results.ownership` and the rows. */
export const recordShards = (shards: Ownership.ShardFigures, results: Record<string, any>, add: Add): void => {
  results.ownership ??= {}
  results.ownership.shards65536peers300Ms = shards.changeMs.value
  results.ownership.shards65536peers300 = {
    afterOneChangeMs: shards.changeMs.value,
    afterJoinMs: shards.joinMs.value,
    afterLeaveMs: shards.leaveMs.value,
    sameViewMs: shards.sameViewMs.value,
    coldMs: shards.coldMs.value
  }
  add("ownership.shards65536peers300Ms", { ...shards.changeMs, unit: "ms (ownedShards after one join or leave)" }, {
    text: "< 5 ms",
    met: shards.changeMs.value < 5
  })
  add("ownership.shards65536peers300.afterJoinMs", shards.joinMs)
  add("ownership.shards65536peers300.afterLeaveMs", shards.leaveMs)
  add("ownership.shards65536peers300.sameViewMs", shards.sameViewMs)
  add("ownership.shards65536peers300.coldMs", { ...shards.coldMs, unit: "ms (first view: every shard × every peer)" })
}

/** Writes the rolling-update figures into `results.rollout` and `results.convergence.hinted`, and the rows. */
export const recordRollout = (
  runs: ReadonlyArray<Rollout.RolloutRun>,
  results: Record<string, any>,
  add: Add
): void => {
  const pick = (intervalMs: number, hints: boolean) =>
    runs.filter((run) => run.intervalMs === intervalMs && run.hints === hints)
  // The real cluster's figures are measured apart (kubeRolloutOnly.ts) and kept.
  results.rollout = results.rollout?.kube === undefined ? {} : { kube: results.rollout.kube }
  for (const intervalMs of [...new Set(runs.map((run) => run.intervalMs))]) {
    const on = Rollout.summarize(pick(intervalMs, true))
    const off = Rollout.summarize(pick(intervalMs, false))
    results.rollout[`r${intervalMs}ms`] = { hints: on, noHints: off }
    for (const [name, summary] of [["hints", on], ["noHints", off]] as const) {
      const key = `rollout.r${intervalMs}ms.${name}`
      const runsOf = pick(intervalMs, name === "hints")
      add(
        `${key}.agreeMs`,
        figure(
          runsOf.flatMap((run) => run.agreeMs),
          `ms until every pod agrees after a change (p99 ${Math.round(summary.agreeP99Ms)})`
        )
      )
      add(
        `${key}.joinSeenMs`,
        figure(
          runsOf.flatMap((run) => run.joinMs),
          `ms until every pod lists a pod DNS published (p99 ${Math.round(summary.joinP99Ms)})`
        )
      )
      add(
        `${key}.leaveSeenMs`,
        figure(
          runsOf.flatMap((run) => run.leaveMs),
          `ms until no pod lists a pod DNS dropped (p99 ${Math.round(summary.leaveP99Ms)})`
        )
      )
      add(
        `${key}.unownedShardSeconds`,
        figure(runsOf.map((run) => run.unownedShardSeconds), "shard-seconds with no owner per update (256 shards)")
      )
      add(
        `${key}.doubleOwnedShardSeconds`,
        figure(runsOf.map((run) => run.doubleOwnedShardSeconds), "shard-seconds with two owners or more per update")
      )
      add(
        `${key}.movesPerMinimum`,
        single(
          summary.moves / summary.minimumMoves,
          `× (${Math.round(summary.moves)} moves, minimum ${Math.round(summary.minimumMoves)})`
        )
      )
    }
  }
  const production = results.rollout.r15000ms
  if (production !== undefined) {
    const { hints: on, noHints: off } = production
    results.rollout.unownedShardSeconds = on.unownedShardSeconds
    results.rollout.unownedShardSecondsNoHints = off.unownedShardSeconds
    results.rollout.doubleOwnedShardSeconds = on.doubleOwnedShardSeconds
    results.rollout.doubleOwnedShardSecondsNoHints = off.doubleOwnedShardSeconds
    results.convergence ??= {}
    results.convergence.hinted = {
      joinP50Ms: on.joinP50Ms,
      joinP99Ms: on.joinP99Ms,
      leaveP50Ms: on.leaveP50Ms,
      leaveP99Ms: on.leaveP99Ms,
      intervalMs: 15_000
    }
    add(
      "convergence.hinted.joinP99Ms",
      single(on.joinP99Ms, "ms (R = 15 s, until every pod lists a pod DNS published)"),
      { text: "< 1,000 ms", met: on.joinP99Ms < 1_000 }
    )
    add(
      "convergence.hinted.leaveP99Ms",
      single(on.leaveP99Ms, "ms (R = 15 s, until no pod lists a pod DNS dropped at a graceful leave)"),
      { text: "< 1,000 ms", met: on.leaveP99Ms < 1_000 }
    )
    /** A shard-seconds figure with hints, its reduction against polling alone, and the 10× target. */
    const addReduction = (key: string, withHints: number, withoutHints: number) =>
      add(
        key,
        single(
          withHints,
          `shard-seconds (no hints: ${withoutHints.toFixed(1)}, ${
            withHints === 0 ? "none with hints" : `${(withoutHints / withHints).toFixed(1)}× less`
          })`
        ),
        { text: "≥ 10× less than without hints", met: withoutHints > 0 && withHints * 10 <= withoutHints }
      )
    addReduction("rollout.unownedShardSeconds", on.unownedShardSeconds, off.unownedShardSeconds)
    add("rollout.unownedShardSecondsNoHints", single(off.unownedShardSeconds, "shard-seconds"))
    addReduction("rollout.doubleOwnedShardSeconds", on.doubleOwnedShardSeconds, off.doubleOwnedShardSeconds)
    add("rollout.doubleOwnedShardSecondsNoHints", single(off.doubleOwnedShardSeconds, "shard-seconds"))
  }
}

/**
 * Writes the real cluster's rolling-update figures into `results.rollout.kube` (`r<ms>ms.hints`,
 * `r<ms>ms.noHints`, as the simulator's under `results.rollout`) and the rows; when the benchmark was
 * skipped, the reason instead (and no rows).
 */
export const recordKubeRollout = (outcome: KubeRollout.Outcome, results: Record<string, any>, add: Add): void => {
  results.rollout ??= {}
  if (outcome._tag === "Skipped") {
    results.rollout.kube = { skipped: outcome.reason }
    return
  }
  results.rollout.kube = { measuredAt: new Date().toISOString() }
  for (const intervalMs of [...new Set(outcome.runs.map((run) => run.intervalMs))]) {
    results.rollout.kube[`r${intervalMs}ms`] = {}
    for (
      const [name, hints, nodeLocalCache] of [
        ["hints", true, false],
        ["noHints", false, false],
        ["hintsNodeLocalCache", true, true],
        ["noHintsNodeLocalCache", false, true]
      ] as const
    ) {
      const runs = outcome.runs.filter((run) =>
        run.intervalMs === intervalMs && run.hints === hints && run.nodeLocalCache === nodeLocalCache
      )
      if (runs.length === 0) continue
      const summary = KubeRollout.summarize(runs)
      results.rollout.kube[`r${intervalMs}ms`][name] = summary
      const key = `rollout.kube.r${intervalMs}ms.${name}`
      add(
        `${key}.agreedAfterMs`,
        figure(
          runs.map((run) => run.agreedAfterMs),
          `ms from the rollout's completion until every pod agrees (rollout ${Math.round(summary.rolloutMs)} ms)`
        )
      )
      add(
        `${key}.agreeMs`,
        figure(
          runs.flatMap((run) => run.agreeMs),
          `ms until every pod agrees after a change of DNS (p99 ${Math.round(summary.agreeP99Ms)})`
        )
      )
      add(
        `${key}.unownedShardSeconds`,
        figure(
          runs.map((run) => run.unownedShardSeconds),
          `shard-seconds with no owner per update (${KubeRollout.SHARDS} shards, ${KubeRollout.PODS} pods; longest ${
            (summary.longestUnownedMs / 1000).toFixed(2)
          } s)`
        )
      )
      add(
        `${key}.doubleOwnedShardSeconds`,
        figure(
          runs.map((run) => run.doubleOwnedShardSeconds),
          `shard-seconds with two owners or more per update (longest ${
            (summary.longestDoubleOwnedMs / 1000).toFixed(2)
          } s)`
        )
      )
      add(
        `${key}.claimedUnownedShardSeconds`,
        figure(
          runs.map((run) => run.claimedUnownedShardSeconds),
          "shard-seconds claimed by no pod per update (Terminating pods that answer counted with their claims)"
        )
      )
      add(
        `${key}.claimedDoubleOwnedShardSeconds`,
        figure(
          runs.map((run) => run.claimedDoubleOwnedShardSeconds),
          "shard-seconds claimed by two pods or more per update (Terminating pods counted)"
        )
      )
      add(
        `${key}.movesPerMinimum`,
        single(
          summary.moves / summary.minimumMoves,
          `× (${Math.round(summary.moves)} moves, minimum ${Math.round(summary.minimumMoves)})`
        )
      )
    }
  }
}
