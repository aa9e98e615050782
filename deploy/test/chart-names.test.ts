/**
 * Object names for any release name Helm accepts (up to 53 characters of lower-case letters, digits,
 * '-' and '.', starting with a letter or digit), with nameOverride and fullnameOverride, and the chart
 * as a subchart of another (Helm hands it `global`, and `enabled` when the parent uses it as condition).
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { succeeded } from "./support/cli.js"
import { CHART, chartFile, helm, KUBE_VERSION, MONITORING_API, parseObjects, render, template } from "./support/helm.js"
import { LONGEST_RELEASE } from "./support/matrix.js"
import { nameProblems } from "./support/names.js"
import { release } from "./support/rendered.js"
import { violations } from "./support/schemas.js"

/** Every optional object on, so that every name is rendered. */
const everything = [chartFile("tests/good/production.yaml")]

describe("object names", () => {
  it.each(
    [
      ["a", {}],
      ["1search", {}],
      ["search.eu.prod", {}],
      ["miroir-prod", {}],
      [LONGEST_RELEASE, {}],
      ["9".repeat(53), {}],
      [`${"a.".repeat(26)}b`, {}],
      ["search", { nameOverride: "x".repeat(63) }],
      ["search", { fullnameOverride: "f".repeat(63) }],
      [LONGEST_RELEASE, { nameOverride: "miroir-of-the-search-cluster" }]
    ] as const
  )(
    "release %s with %o: valid DNS labels of at most 63 characters, no two alike, the Services' names RFC 1035",
    async (name, overrides) => {
      const set = Object.entries(overrides).map(([key, value]) => `${key}=${value}`)
      const objects = await render(name, "search", { valuesFiles: everything, set, apiVersions: [MONITORING_API] })
      expect(nameProblems(objects)).toEqual([])
      expect(objects.flatMap(violations)).toEqual([])
      // The headless Service is still the one discovery looks up.
      expect(release(objects).headless.spec.clusterIP).toBe("None")
    }
  )

  it("refuses a fullnameOverride that would also be the headless Service's name", async () => {
    const fullname = `${"s".repeat(54)}-headless`
    const outcome = await template("search", "search", { set: [`fullnameOverride=${fullname}`] })
    expect(outcome.code).not.toBe(0)
    expect(outcome.stderr).toContain(`the full name ${fullname} would also be the headless Service's name`)
  })
})

describe("as a subchart", () => {
  const parent = mkdtempSync(join(tmpdir(), "miroir-parent-chart-"))
  cpSync(CHART, join(parent, "charts", "miroir"), { recursive: true })
  writeFileSync(
    join(parent, "Chart.yaml"),
    stringify({
      apiVersion: "v2",
      name: "search-platform",
      version: "1.0.0",
      dependencies: [{ name: "miroir", version: "0.2.0", condition: "miroir.enabled" }]
    })
  )
  writeFileSync(
    join(parent, "values.yaml"),
    stringify({
      global: { imageRegistry: "registry.example.com" },
      miroir: { enabled: true, replicaCount: 2 }
    })
  )
  afterAll(() => rmSync(parent, { recursive: true, force: true }))

  const renderParent = async (set: ReadonlyArray<string>) =>
    parseObjects(succeeded(
      await helm([
        "template",
        "platform",
        parent,
        "--namespace",
        "search",
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "miroir.image.repository=registry.example.com/search/miroir",
        ...set.flatMap((pair) => ["--set", pair])
      ])
    ))

  it("renders under a parent that passes global and enabled, with the discovery wiring intact", async () => {
    const objects = await renderParent([])
    expect(objects.flatMap(violations)).toEqual([])
    expect(nameProblems(objects)).toEqual([])
    const { deployment, headless } = release(objects)
    expect(deployment.metadata.name).toBe("platform-miroir")
    expect(deployment.spec.replicas).toBe(2)
    expect(headless.metadata.name).toBe("platform-miroir-headless")
  })

  it("renders nothing when the parent's condition is off", async () => {
    expect(await renderParent(["miroir.enabled=false"])).toEqual([])
  })

  it("still refuses unknown values under the parent (the schema stays closed)", async () => {
    const outcome = await helm([
      "template",
      "platform",
      parent,
      "--kube-version",
      KUBE_VERSION,
      "--set",
      "miroir.replicas=3",
      "--set",
      "miroir.image.repository=registry.example.com/search/miroir"
    ])
    expect(outcome.code).not.toBe(0)
    expect(outcome.stderr).toMatch(
      /miroir:.*additional properties 'replicas' not allowed|additional properties 'replicas' not allowed/s
    )
  })
})
