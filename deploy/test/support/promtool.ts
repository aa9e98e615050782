/**
 * Prometheus's own rule unit tests (`promtool test rules`, Debian's prometheus package) over rules the
 * chart renders: series written by the test, alerts expected at given times, firing or silent.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { CommandResult } from "@miroir/cluster-sim/kube/Cli"
import { findExecutable } from "@miroir/test-support/findExecutable"
import { stringify } from "yaml"
import { run } from "./cli.js"
import type { KubeObject } from "./helm.js"

/** promtool, or an error saying how to install it. */
export const promtool = (): string =>
  findExecutable(
    "promtool",
    "apt-get install prometheus (Debian ships promtool with it), or run scripts/install-test-deps.sh"
  )

/** An input series: `metric{labels}` and its values in promtool's notation (`0+15x20`, `3x40`, `_x5`). */
export interface Series {
  readonly series: string
  readonly values: string
}

/** The alerts expected of one alert rule at one time; an empty list means silent. */
export interface Expectation {
  readonly evalTime: string
  readonly alertname: string
  readonly alerts: ReadonlyArray<
    { readonly labels: Record<string, string>; readonly annotations: Record<string, string> }
  >
}

/** One promtool test group: series sampled every `interval`, and what the rules must say. */
export interface RuleTest {
  readonly name: string
  readonly interval: string
  readonly series: ReadonlyArray<Series>
  readonly expectations: ReadonlyArray<Expectation>
}

/** The rule groups of a rendered PrometheusRule, as a Prometheus rule file. */
export const ruleFile = (rule: KubeObject): string => stringify({ groups: rule.spec.groups })

/**
 * Runs `promtool test rules` over `ruleFiles` (file name → content) with `tests`; rules are evaluated
 * every 15 s. The result carries promtool's report (which alert differed, what it got).
 */
export const testRules = async (
  ruleFiles: Readonly<Record<string, string>>,
  tests: ReadonlyArray<RuleTest>
): Promise<CommandResult> => {
  const folder = mkdtempSync(join(tmpdir(), "miroir-promtool-"))
  try {
    for (const [name, content] of Object.entries(ruleFiles)) writeFileSync(join(folder, name), content)
    const file = join(folder, "tests.yaml")
    writeFileSync(
      file,
      stringify({
        rule_files: Object.keys(ruleFiles),
        evaluation_interval: "15s",
        tests: tests.map((test) => ({
          name: test.name,
          interval: test.interval,
          input_series: test.series,
          alert_rule_test: test.expectations.map((e) => ({
            eval_time: e.evalTime,
            alertname: e.alertname,
            exp_alerts: e.alerts.map((a) => ({ exp_labels: a.labels, exp_annotations: a.annotations }))
          }))
        }))
      })
    )
    return await run(promtool(), ["test", "rules", file])
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}
