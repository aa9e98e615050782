/**
 * The chart's alert rules as an operator's Prometheus would load them: `helm template` of the release
 * with the PrometheusRule on, its `spec.groups` written as a Prometheus rule file.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Duration, Effect } from "effect"
import { parseAllDocuments } from "yaml"
import type { KubeCluster } from "../../../src/kube/KubeCluster.js"
import { CHART } from "../../../src/kube/KubeCluster.js"

/** One alerting rule of the chart. */
export interface Rule {
  readonly alert: string
  readonly expr: string
  /** How long its condition must hold before it fires. */
  readonly for: Duration.Duration
}

/** The rule file written, and its alerting rules. */
export interface ChartRules {
  readonly file: string
  readonly rules: ReadonlyArray<Rule>
}

const prometheusDuration = (text: string | undefined): Duration.Duration => {
  if (text === undefined) return Duration.zero
  let millis = 0
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) {
    millis += Number(amount) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[unit as "ms" | "s" | "m" | "h"]
  }
  return Duration.millis(millis)
}

/** Renders the release's PrometheusRule with `helm template` (same values as the install) into `folder`. */
export const chartRules = (
  cluster: KubeCluster,
  release: string,
  namespace: string,
  folder: string
): Effect.Effect<ChartRules, Error> =>
  Effect.gen(function*() {
    const manifest = yield* cluster.helm([
      "template",
      release,
      CHART,
      "--namespace",
      namespace,
      "-f",
      cluster.valuesFile,
      "--set",
      "prometheusRule.enabled=true",
      "--kube-version",
      "1.37.0",
      "--api-versions",
      "monitoring.coreos.com/v1"
    ])
    const documents = parseAllDocuments(manifest).map((document) => document.toJS() as any).filter((o) => o !== null)
    const rule = documents.find((o) => o.kind === "PrometheusRule")
    if (rule === undefined) {
      return yield* Effect.fail(new Error("helm template rendered no PrometheusRule with prometheusRule.enabled=true"))
    }
    const file = join(folder, "miroir-rules.json")
    // JSON is YAML: Prometheus reads the groups as they are.
    writeFileSync(file, JSON.stringify({ groups: rule.spec.groups }, null, 2))
    const rules = (rule.spec.groups as Array<{ rules: Array<{ alert?: string; expr: string; for?: string }> }>)
      .flatMap((group) => group.rules)
      .filter((r): r is { alert: string; expr: string; for?: string } => r.alert !== undefined)
      .map((r) => ({ alert: r.alert, expr: r.expr, for: prometheusDuration(r.for) }))
    return { file, rules }
  })
