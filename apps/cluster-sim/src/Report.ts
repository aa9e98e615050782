/** The end-of-run report: the acceptance checks with their measured times, as text and Markdown. */
import type { RunResult } from "./RunResult.js"

const seconds = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`)

/** Whether every check passed. */
export const allPassed = (result: RunResult): boolean => result.checks.every((check) => check.passed)

/** The report as Markdown (also readable as plain text). */
export const render = (
  result: RunResult,
  context: { readonly cluster: string; readonly pods: number; readonly statefulSet: boolean }
): string => {
  const r = result.refreshIntervalMs
  const rows = result.checks.map((check) =>
    `| ${check.passed ? "PASS" : "FAIL"} | ${check.name} | ${seconds(check.measuredMs)} | ${
      check.boundMs === undefined ? "—" : `${seconds(check.boundMs)} (${(check.boundMs / r).toFixed(0)}R)`
    } | ${check.detail} |`
  )
  const events = result.events.map((event) =>
    `- ${((event.at - result.startedAt) / 1000).toFixed(2)} s: ${event.label}`
  )
  return [
    "# Local cluster report",
    "",
    `Refresh interval R = ${r} ms; ${context.pods} pods at start (${
      context.statefulSet ? "StatefulSet" : "Deployment"
    }); cluster: ${context.cluster}; run took ${seconds(result.finishedAt - result.startedAt)}.`,
    "",
    "| result | check | measured | bound | detail |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
    "",
    `${result.checks.filter((check) => check.passed).length} passed, ${
      result.checks.filter((check) => !check.passed).length
    } failed`,
    "",
    "## Timeline",
    "",
    ...events,
    ""
  ].join("\n")
}
