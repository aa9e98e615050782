/**
 * The healing benchmark's figures (healing.ts) as results.json's `healing` section and `healing.*` rows:
 * `healing.<case>.<baseline|detector>.<figure>`, baseline being the failure detector off (DNS alone
 * decides) and detector its chart defaults, both measured in the same run. Targets (issue 22) go on the
 * detector's rows: crash agreement p99 < 2 s, a dead node's shards owned again < 5 s after the freeze,
 * 0 false suspicions in 20 freezes of 2 s.
 */
import { loadavg } from "node:os"
import type { Outcome, HealingRun } from "./healing.js"
import { CRASH_AGREE_TARGET_MS, DEAD_NODE_TARGET_MS, PODS, R, SHARDS } from "./healing.js"
import type { ShardSeconds } from "@miroir/cluster-sim/kube/ViewTimeline"
import type { Add } from "./rolloutFigures.js"
import { type Figure, figure, quantile } from "./stats.js"
import { Duration } from "effect"

const single = (value: number, unit: string): Figure => ({ value, min: value, max: value, trials: 1, unit })

const defined = (values: ReadonlyArray<number | undefined>): ReadonlyArray<number> =>
  values.filter((v): v is number => v !== undefined)

const mean = (values: ReadonlyArray<number>) =>
  values.length === 0 ? Number.NaN : values.reduce((t, v) => t + v, 0) / values.length

const name = (run: HealingRun) => (run.detector === "off" ? "baseline" : "detector")

const gapsSummary = (gaps: ShardSeconds) => ({
  unownedShardSeconds: gaps.unowned,
  doublyOwnedShardSeconds: gaps.doublyOwned,
  longestUnownedMs: gaps.longestUnownedMs
})

/** One setting's figures as results.json keeps them. */
export const summarize = (run: HealingRun) => {
  const agree = defined(run.crashes.map((t) => t.agreeMs))
  return {
    chartHasDetector: run.chartHasDetector,
    placement: run.placement,
    loadAverage: run.loadAverage,
    traffic: run.traffic,
    crash: {
      trials: run.crashes.length,
      agreed: agree.length,
      agreeMs: run.crashes.map((t) => t.agreeMs ?? null),
      agreeP50Ms: quantile(agree, 0.5),
      agreeP99Ms: quantile(agree, 0.99),
      unlistedP50Ms: quantile(defined(run.crashes.map((t) => t.unlistedMs)), 0.5),
      unownedShardSeconds: mean(run.crashes.map((t) => t.gaps.unowned)),
      doublyOwnedShardSeconds: mean(run.crashes.map((t) => t.gaps.doublyOwned))
    },
    deadNode: {
      placement: run.deadNode.placement,
      deadPods: run.deadNode.deadPods,
      ownedMs: run.deadNode.ownedMs ?? null,
      ownedOnceMs: run.deadNode.ownedOnceMs ?? null,
      agreeMs: run.deadNode.agreeMs ?? null,
      unlistedMs: run.deadNode.unlistedMs ?? null,
      ...gapsSummary(run.deadNode.gaps)
    },
    freeze: { ...run.freezes, gaps: gapsSummary(run.freezes.gaps) },
    partitions: Object.fromEntries(run.partitions.map((p) => [p.kind, {
      cutMs: p.cutMs,
      droppedPackets: p.droppedPackets,
      heldDownMs: p.heldDownMs ?? null,
      fenced: p.fenced,
      healedMs: p.healedMs ?? null,
      duringCut: gapsSummary(p.duringCut),
      total: gapsSummary(p.total)
    }]))
  }
}

/** Writes `results.healing` and the `healing.*` rows. */
export const recordHealing = (outcome: Outcome, results: Record<string, any>, add: Add): void => {
  if (outcome._tag === "Skipped") {
    results.healing = { ...results.healing, skipped: outcome.reason }
    return
  }
  // results.healing.probeCost is probeCost.ts's (the detector's cost on the simulator): kept.
  results.healing = {
    ...(results.healing?.probeCost === undefined ? {} : { probeCost: results.healing.probeCost }),
    measuredAt: new Date().toISOString(),
    node: process.version,
    loadAverageAtEnd: loadavg(),
    refreshIntervalMs: Duration.toMillis(R),
    pods: PODS,
    shards: SHARDS,
    trials: outcome.trials,
    description: outcome.runs[0]?.description
  }
  for (const run of outcome.runs) {
    const setting = name(run)
    const on = run.detector === "on"
    results.healing[setting] = summarize(run)
    const key = (rest: string) => `healing.${rest.replace("*", setting)}`

    const agree = defined(run.crashes.map((t) => t.agreeMs))
    if (agree.length > 0) {
      add(key("crash.*.agreeMs"), figure(agree, "ms from the SIGKILL to every survivor agreeing (p50)"))
      const p99 = quantile(agree, 0.99)
      add(
        key("crash.*.agreeP99Ms"),
        {
          ...single(p99, "ms (p99 over the crashes)"),
          min: Math.min(...agree),
          max: Math.max(...agree),
          trials: agree.length
        },
        on
          ? { text: `< ${CRASH_AGREE_TARGET_MS.toLocaleString("en")} ms`, met: p99 < CRASH_AGREE_TARGET_MS }
          : undefined
      )
    }
    add(key("crash.*.unownedShardSeconds"), figure(run.crashes.map((t) => t.gaps.unowned), "shard-seconds per crash"))
    add(
      key("crash.*.doublyOwnedShardSeconds"),
      figure(run.crashes.map((t) => t.gaps.doublyOwned), "shard-seconds per crash")
    )

    const dead = run.deadNode
    if (dead.ownedMs !== undefined) {
      add(
        key("deadNode.*.ownedMs"),
        single(dead.ownedMs, `ms from the freeze to every shard owned again (${dead.deadPods} pods frozen)`),
        on
          ? { text: `< ${DEAD_NODE_TARGET_MS.toLocaleString("en")} ms`, met: dead.ownedMs < DEAD_NODE_TARGET_MS }
          : undefined
      )
    }
    if (dead.ownedOnceMs !== undefined) {
      add(
        key("deadNode.*.ownedOnceMs"),
        single(dead.ownedOnceMs, "ms from the freeze to every shard owned exactly once")
      )
    }
    if (dead.unlistedMs !== undefined) {
      add(key("deadNode.*.unlistedMs"), single(dead.unlistedMs, "ms from the freeze to DNS no longer listing them"))
    }
    add(key("deadNode.*.unownedShardSeconds"), single(dead.gaps.unowned, "shard-seconds"))
    add(key("deadNode.*.doublyOwnedShardSeconds"), single(dead.gaps.doublyOwned, "shard-seconds"))

    const freezes = run.freezes
    add(
      key("freeze.*.falseDowns"),
      single(
        freezes.downIncrements,
        `increments of miroir_peer_suspicions_total{result="down"} in ${freezes.trials} freezes of ${freezes.freezeMs} ms`
      ),
      on ? { text: "0", met: freezes.downIncrements === 0 && freezes.trialsSeenDown === 0 } : undefined
    )
    add(
      key("freeze.*.trialsSeenDown"),
      single(freezes.trialsSeenDown, `of ${freezes.trials} freezes, /peers down seen`)
    )
    add(
      key("freeze.*.trialsSeenSuspected"),
      single(freezes.trialsSeenSuspected, `of ${freezes.trials} freezes, /peers suspected seen`)
    )
    add(
      key("freeze.*.unownedShardSeconds"),
      single(freezes.gaps.unowned, `shard-seconds over the ${freezes.trials} freezes`)
    )

    for (const p of run.partitions) {
      add(
        key(`partition.${p.kind}.*.doublyOwnedShardSeconds`),
        single(p.total.doublyOwned, `shard-seconds (cut ${Math.round(p.cutMs / 1000)} s, until settled after the heal)`)
      )
      add(key(`partition.${p.kind}.*.unownedShardSeconds`), single(p.total.unowned, "shard-seconds"))
    }

    if (run.traffic.present || on) {
      add(
        key("traffic.*.probesSentPerSecondPerPod"),
        {
          ...single(run.traffic.sentPerSecond, `probes/s sent per pod at ${run.traffic.pods} pods (mean; max per pod)`),
          max: run.traffic.sentPerSecondMax
        }
      )
      add(
        key("traffic.*.probesReceivedPerSecondPerPod"),
        {
          ...single(run.traffic.receivedPerSecond, `probes/s received per pod at ${run.traffic.pods} pods`),
          max: run.traffic.receivedPerSecondMax
        }
      )
    }
  }
}
