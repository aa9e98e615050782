/**
 * values.schema.json itself, under ajv's strict mode: Helm ignores keywords it does not know, so a typo
 * in the schema (`minumum`, a misplaced `additionalProperties`) would silently stop checking a value.
 * Whether values are refused is Helm's call: see chart-bad-values.test.ts.
 */
import { readdirSync, readFileSync } from "node:fs"
import { Ajv } from "ajv"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"
import { chartFile } from "./support/helm.js"

const read = (path: string) => readFileSync(chartFile(path), "utf8")
const defaults = parse(read("values.yaml"))

/** Helm's merge of a values file over the defaults: maps merge, everything else is replaced. */
const merge = (base: any, override: any): any =>
  typeof base === "object" && base !== null && !Array.isArray(base) && typeof override === "object" &&
    override !== null && !Array.isArray(override)
    ? Object.fromEntries(
      [...new Set([...Object.keys(base), ...Object.keys(override)])].map((
        key
      ) => [key, key in override ? merge(base[key], override[key]) : base[key]])
    )
    : override

describe("values.schema.json", () => {
  // Strict: unknown keywords, and types that do not fit their keywords, fail the compilation.
  const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
    JSON.parse(read("values.schema.json"))
  )

  it("compiles under ajv's strict mode and accepts the default values", () => {
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true)
  })

  it.each(readdirSync(chartFile("tests/good")).filter((file) => file.endsWith(".yaml")))(
    "accepts tests/good/%s",
    (file) => {
      expect(validate(merge(defaults, parse(read(`tests/good/${file}`)))), JSON.stringify(validate.errors)).toBe(true)
    }
  )
})
