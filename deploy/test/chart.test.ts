/**
 * The Helm chart without Helm (none can be had here): values.schema.json checked with a JSON Schema
 * validator against the good and bad values files in charts/miroir/tests, and the templates checked
 * to use only values that exist and to keep the wiring discovery needs.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Ajv } from "ajv"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const chart = (path: string) => fileURLToPath(new URL(`../../charts/miroir/${path}`, import.meta.url))
const read = (path: string) => readFileSync(chart(path), "utf8")
const defaults = parse(read("values.yaml"))
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(read("values.schema.json")))

/** Helm's merge of a values file over the defaults: maps merge, everything else is replaced. */
const merge = (base: any, override: any): any =>
  typeof base === "object" && base !== null && !Array.isArray(base) && typeof override === "object" && override !== null && !Array.isArray(override)
    ? Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(override)])].map((key) => [key, key in override ? merge(base[key], override[key]) : base[key]]))
    : override

const valuesFiles = (kind: "good" | "bad") => readdirSync(chart(`tests/${kind}`)).filter((file) => file.endsWith(".yaml"))

describe("values.schema.json", () => {
  it("accepts the default values", () => {
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true)
  })

  it.each(valuesFiles("good"))("accepts tests/good/%s", (file) => {
    const values = merge(defaults, parse(read(`tests/good/${file}`)))
    expect(validate(values), JSON.stringify(validate.errors)).toBe(true)
  })

  const reasons: Record<string, RegExp> = {
    "zero-replicas.yaml": /\/replicaCount.*must be >= 1/,
    "interval-not-a-duration.yaml": /\/discovery\/refreshInterval.*must match pattern/,
    "timeout-as-number.yaml": /\/discovery\/lookupTimeout.*must be string/,
    "unknown-top-level-key.yaml": /must NOT have additional properties.*replicas/,
    "otlp-endpoint-without-scheme.yaml": /\/otlp\/endpoint.*must match pattern/
  }
  it.each(valuesFiles("bad"))("rejects tests/bad/%s, for the reason it was written", (file) => {
    const values = merge(defaults, parse(read(`tests/bad/${file}`)))
    expect(validate(values)).toBe(false)
    const errors = (validate.errors ?? []).map((error: { instancePath: string; message?: string; params: unknown }) => `${error.instancePath} ${error.message} ${JSON.stringify(error.params)}`).join("; ")
    expect(reasons[file], `a reason for ${file}`).toBeDefined()
    expect(errors).toMatch(reasons[file]!)
  })
})

describe("the templates", () => {
  const templates = readdirSync(chart("templates")).map((file) => ({ file, text: read(`templates/${file}`) }))

  it("use only values that values.yaml defines", () => {
    const lookup = (path: ReadonlyArray<string>) => path.reduce<any>((node, key) => (node === undefined ? undefined : node[key]), defaults)
    for (const { file, text } of templates) {
      for (const [, path] of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
        expect(lookup(path!.split(".")), `${file}: .Values.${path}`).not.toBeUndefined()
      }
    }
  })

  it("wire discovery: Downward API env, the headless Service by name, its named port, probes and no API token", () => {
    const deployment = read("templates/deployment.yaml")
    const headless = read("templates/service-headless.yaml")
    for (const fieldPath of ["metadata.name", "metadata.namespace", "status.podIP"]) {
      expect(deployment).toContain(`fieldPath: ${fieldPath}`)
    }
    expect(deployment).toMatch(/name: MIROIR_PEER_DISCOVERY_SERVICE\n\s+value: \{\{ include "miroir.headlessName" \. \| quote \}\}/)
    expect(headless).toMatch(/name: \{\{ include "miroir.headlessName" \. \}\}/)
    expect(deployment).toMatch(/name: MIROIR_PEER_DISCOVERY_PORT_NAME\n\s+value: "http"/)
    expect(headless).toMatch(/clusterIP: None/)
    expect(headless).toMatch(/- name: http\n/)
    expect(headless).toContain('include "miroir.selectorLabels"')
    expect(deployment).toContain("automountServiceAccountToken: false")
    expect(deployment).toMatch(/readinessProbe:\n\s+httpGet:\n\s+path: \/readyz/)
    expect(deployment).toMatch(/livenessProbe:\n\s+httpGet:\n\s+path: \/healthz/)
  })

  it("allow DNS over UDP and TCP in the NetworkPolicy", () => {
    const policy = read("templates/networkpolicy.yaml")
    expect(policy).toMatch(/port: 53\n\s+protocol: UDP/)
    expect(policy).toMatch(/port: 53\n\s+protocol: TCP/)
  })

  it("alert on a discovery gap against the ready replicas, and on stale lookups", () => {
    const rules = read("templates/prometheusrule.yaml")
    expect(rules).toContain("alert: MiroirPeerDiscoveryGap")
    expect(rules).toMatch(/miroir_peer_pod_count[^\n]*\n\s+< on\(namespace\) group_left\(\)\n\s+kube_deployment_status_replicas_ready/)
    expect(rules).toContain("for: 2m")
    expect(rules).toContain("alert: MiroirPeerDiscoveryStale")
    expect(rules).toContain("> 3 * {{ include \"miroir.seconds\" .Values.discovery.refreshInterval }}")
  })
})
