/**
 * Values the chart must refuse, each a file of charts/miroir/tests/bad, with a message naming the value.
 * Two guards: values.schema.json (types and shapes), which `helm lint --strict` and `helm template`
 * (what `helm install` runs first) both enforce; and the chart's own check (miroir.validate in
 * _helpers.tpl) of the durations the pods would refuse at start-up, which `helm template` enforces
 * but `helm lint` only reports: Helm lints in "lint mode", where a template's `fail` is logged and
 * rendering goes on. Helm 4 and Helm 3 alike.
 */
import { readdirSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { chartFile, HELMS, lint, template } from "./support/helm.js"

/** Why each bad file is refused, as Helm says it, and by which guard. */
const reasons: Readonly<Record<string, { readonly message: RegExp; readonly by: "schema" | "chart" }>> = {
  "zero-replicas.yaml": { message: /at '\/replicaCount': minimum: got 0, want 1/, by: "schema" },
  "interval-not-a-duration.yaml": {
    message: /at '\/discovery\/refreshInterval': .*soon.*does not match pattern/,
    by: "schema"
  },
  "timeout-as-number.yaml": { message: /at '\/discovery\/lookupTimeout': got number, want string/, by: "schema" },
  "unknown-top-level-key.yaml": { message: /additional properties 'replicas' not allowed/, by: "schema" },
  "otlp-endpoint-without-scheme.yaml": { message: /at '\/otlp\/endpoint': .*does not match pattern/, by: "schema" },
  "record-unknown.yaml": { message: /at '\/discovery\/record': value must be one of 'srv', 'a'/, by: "schema" },
  "timeout-not-below-interval.yaml": {
    message: /discovery\.lookupTimeout \(3s\) must be below discovery\.refreshInterval \(2s\)/,
    by: "chart"
  },
  "interval-over-an-hour.yaml": { message: /discovery\.refreshInterval \(2h\) must be from 10ms to 1h/, by: "chart" },
  "audit-interval-too-short.yaml": {
    message: /ownershipAudit\.interval \(100ms\) must be auto, off, or from 250ms to 1h/,
    by: "chart"
  }
}

const files = readdirSync(chartFile("tests/bad")).filter((file) => file.endsWith(".yaml")).sort()

describe("chart, bad values", () => {
  it("has a reason for every bad file and a file for every reason", () => {
    expect(files).toEqual(Object.keys(reasons).sort())
  })
})

describe.each(HELMS)("chart, bad values, $name", (h) => {
  it.each(files)("refuses tests/bad/%s, naming the value", async (file) => {
    const { message, by } = reasons[file]!
    const inputs = { valuesFiles: [chartFile(`tests/bad/${file}`)] }
    const [linted, rendered] = await Promise.all([lint(inputs, h), template("miroir", "search", inputs, h)])
    expect(rendered.code, `helm template accepted ${file}`).not.toBe(0)
    expect(rendered.stderr).toMatch(message)
    // The linter says it either way; only a schema violation makes it fail.
    expect(`${linted.stdout}\n${linted.stderr}`).toMatch(message)
    if (by === "schema") expect(linted.code, `helm lint accepted ${file}:\n${linted.stdout}`).not.toBe(0)
    // Logged, as each Helm logs: Helm 3 `[INFO] Fail: …`, Helm 4 (slog) `level=INFO msg="funcMap fail" message=…`.
    else expect(linted.stderr).toMatch(h.major === 4 ? /level=INFO msg="funcMap fail" message=/ : /\[INFO\] Fail: /)
  })
})
