/**
 * Point by point, values at the edges of what the chart accepts: each accepted row is rendered by Helm,
 * checked against the Kubernetes schemas, and its container environment given to the bundled pod
 * service, which must start and answer /healthz; each refused row is refused by `helm template` with a
 * message naming the value, and where the value reaches an environment variable the pod service itself
 * refuses it too (exit 1, one line on stderr naming the variable): the chart's limits are the pod's.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { render, template } from "./support/helm.js"
import { plainEnv, release } from "./support/rendered.js"
import { awaitExit, podEnvironment, runExec, spawnBundle, startPod, stop } from "./support/renderedPod.js"
import { violations } from "./support/schemas.js"

const folder = mkdtempSync(join(tmpdir(), "miroir-values-table-"))
let files = 0
/** Values as a values file, as an operator writes them: numbers stay numbers, which Helm reads as floats. */
const valuesFile = (values: Record<string, unknown>): string => {
  const file = join(folder, `values-${files++}.yaml`)
  writeFileSync(file, stringify(values))
  return file
}

interface Accepted {
  readonly values: Record<string, unknown>
  /** Environment variables the container must carry, as rendered. */
  readonly env?: Readonly<Record<string, string>>
  /** Checks of the Deployment beyond the environment. */
  readonly deployment?: (deployment: any) => void
  /** The delay (seconds) of the rendered preStop hook, which is then run against the started pod. */
  readonly preStopSeconds?: number
}

const accepted: ReadonlyArray<readonly [string, Accepted]> = [
  ["defaults", {
    values: {},
    env: { MIROIR_SHARDS: "64", NODE_OPTIONS: "--max-old-space-size=128", MIROIR_HTTP_HOST: "0.0.0.0" }
  }],
  ["shards 1", { values: { shards: 1 }, env: { MIROIR_SHARDS: "1" } }],
  ["shards 60000 (a float to Helm: %v would print 6e+04)", {
    values: { shards: 60000 },
    env: { MIROIR_SHARDS: "60000" }
  }],
  ["shards 65536, the largest", { values: { shards: 65536 }, env: { MIROIR_SHARDS: "65536" } }],
  ["refresh 10ms, timeout 5ms (the smallest)", {
    values: { discovery: { refreshInterval: "10ms", lookupTimeout: "5ms" } },
    env: { MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "10ms" }
  }],
  ["refresh 1h, timeout 3599s (the largest)", {
    values: { discovery: { refreshInterval: "1h", lookupTimeout: "3599s" } },
    env: { MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "3599s" }
  }],
  ["audit 250ms", {
    values: { ownershipAudit: { interval: "250ms" } },
    env: { MIROIR_OWNERSHIP_AUDIT_INTERVAL: "250ms" }
  }],
  ["audit 1h", { values: { ownershipAudit: { interval: "1h" } }, env: { MIROIR_OWNERSHIP_AUDIT_INTERVAL: "1h" } }],
  ["audit off", { values: { ownershipAudit: { interval: "off" } }, env: { MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off" } }],
  // YAML 1.1 (Helm's) reads an unquoted off as false.
  ["audit false (an unquoted off)", {
    values: { ownershipAudit: { interval: false } },
    env: { MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off" }
  }],
  ["probes every 100ms, 50ms timeout", {
    values: {
      peerHealth: { probeInterval: "100ms", probeTimeout: "50ms", suspicionTimeout: "50ms", selfFenceAfter: "100ms" }
    },
    env: { MIROIR_PEER_PROBE_INTERVAL: "100ms", MIROIR_PEER_PROBE_TIMEOUT: "50ms", MIROIR_SELF_FENCE_AFTER: "100ms" }
  }],
  ["probes every minute", {
    values: { peerHealth: { probeInterval: "1m", indirectProbes: 16, suspicionTimeout: "1m", selfFenceAfter: "1m" } },
    env: { MIROIR_PEER_PROBE_INTERVAL: "1m", MIROIR_PEER_INDIRECT_PROBES: "16", MIROIR_PEER_SUSPICION_TIMEOUT: "1m" }
  }],
  ["probes off", { values: { peerHealth: { probeInterval: "off" } }, env: { MIROIR_PEER_PROBE_INTERVAL: "off" } }],
  ["probes false (an unquoted off)", {
    values: { peerHealth: { probeInterval: false } },
    env: { MIROIR_PEER_PROBE_INTERVAL: "off" }
  }],
  ["OTLP export every 100 ms", {
    values: { otlp: { endpoint: "http://127.0.0.1:4318", metricExportInterval: 100 } },
    env: { OTEL_METRIC_EXPORT_INTERVAL: "100" }
  }],
  ["OTLP export once a day (86400000 ms; %v would print 8.64e+07)", {
    values: { otlp: { endpoint: "https://127.0.0.1:4318", protocol: "http/json", metricExportInterval: 86400000 } },
    env: { OTEL_METRIC_EXPORT_INTERVAL: "86400000" }
  }],
  ["listen on :: (IPv6-only clusters)", { values: { listenHost: "::" }, env: { MIROIR_HTTP_HOST: "::" } }],
  ["a million replicas, long probes and grace period (%v would print 1e+06)", {
    values: {
      replicaCount: 1000000,
      terminationGracePeriodSeconds: 3000000,
      probes: { liveness: { periodSeconds: 1000000 } }
    },
    deployment: (d) => {
      expect(d.spec.replicas).toBe(1000000)
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(3000000)
      expect(d.spec.template.spec.containers[0].livenessProbe.periodSeconds).toBe(1000000)
    }
  }],
  ["memory limit 1Gi: a 512 MiB heap", {
    values: { resources: { limits: { memory: "1Gi" } } },
    env: { NODE_OPTIONS: "--max-old-space-size=512" }
  }],
  ["no memory limit: Node sizes its heap itself", {
    values: { resources: { limits: null } },
    deployment: (d) =>
      expect(d.spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain("NODE_OPTIONS")
  }],
  ["extraEnv with strings and a valueFrom; logs pretty at debug", {
    values: {
      extraEnv: [{ name: "OTEL_RESOURCE_ATTRIBUTES", value: "deployment.environment=prod" }, {
        name: "NODE_NAME",
        valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } }
      }],
      log: { level: "debug", format: "pretty" }
    },
    env: { OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=prod", MIROIR_LOG_FORMAT: "pretty" }
  }],
  ["strategy Recreate; a 50% budget", {
    values: { strategy: { type: "Recreate" }, podDisruptionBudget: { maxUnavailable: "50%" } },
    deployment: (d) => expect(d.spec.strategy).toEqual({ type: "Recreate" })
  }],
  [
    "preStop delay 1 s: the hook is the exec `node /app/miroir.mjs leave --delay 1s`, which leaves the started pod and ends after 1 s",
    {
      values: { lifecycle: { preStopSleepSeconds: 1 } },
      preStopSeconds: 1
    }
  ],
  ["preStop delay 0: no hook", {
    values: { lifecycle: { preStopSleepSeconds: 0 }, terminationGracePeriodSeconds: 8 },
    deployment: (d) => expect(d.spec.template.spec.containers[0].lifecycle).toBeUndefined()
  }],
  ["an image by digest", {
    values: { image: { digest: `sha256:${"a".repeat(64)}` } },
    deployment: (d) =>
      expect(d.spec.template.spec.containers[0].image).toBe(
        `registry.example.com/search/miroir@sha256:${"a".repeat(64)}`
      )
  }]
]

interface Refused {
  readonly values: Record<string, unknown>
  /** What helm template says. */
  readonly message: RegExp
  /** The environment variable that carries the value, and the value, for the pod service's own check. */
  readonly pod?: readonly [string, string]
}

const refused: ReadonlyArray<readonly [string, Refused]> = [
  ["shards 0", {
    values: { shards: 0 },
    message: /at '\/shards': minimum: got 0, want 1/,
    pod: ["MIROIR_SHARDS", "0"]
  }],
  ["shards 65537", {
    values: { shards: 65537 },
    message: /at '\/shards': maximum: got 65,537, want 65,536/,
    pod: ["MIROIR_SHARDS", "65537"]
  }],
  ["shards 1.5", {
    values: { shards: 1.5 },
    message: /at '\/shards': got number, want integer/,
    pod: ["MIROIR_SHARDS", "1.5"]
  }],
  ["refresh 5ms", {
    values: { discovery: { refreshInterval: "5ms", lookupTimeout: "5ms" } },
    message: /discovery\.refreshInterval \(5ms\) must be from 10ms to 1h/,
    pod: ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "5ms"]
  }],
  ["refresh 61m", {
    values: { discovery: { refreshInterval: "61m" } },
    message: /discovery\.refreshInterval \(61m\) must be from 10ms to 1h/,
    pod: ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "61m"]
  }],
  ["timeout 4ms", {
    values: { discovery: { refreshInterval: "10ms", lookupTimeout: "4ms" } },
    message: /discovery\.lookupTimeout \(4ms\) must be at least 5ms/
  }],
  ["timeout equal to the interval", {
    values: { discovery: { refreshInterval: "3s", lookupTimeout: "3s" } },
    message: /discovery\.lookupTimeout \(3s\) must be below discovery\.refreshInterval \(3s\)/,
    pod: ["MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT", "15s"]
  }],
  ["audit true", { values: { ownershipAudit: { interval: true } }, message: /at '\/ownershipAudit\/interval'/ }],
  ["audit 2h", {
    values: { ownershipAudit: { interval: "2h" } },
    message: /ownershipAudit\.interval \(2h\) must be auto, off, or from 250ms to 1h/,
    pod: ["MIROIR_OWNERSHIP_AUDIT_INTERVAL", "2h"]
  }],
  ["probes every 2m", {
    values: { peerHealth: { probeInterval: "2m" } },
    message: /peerHealth\.probeInterval \(2m\) must be off or from 100ms to 1m/,
    pod: ["MIROIR_PEER_PROBE_INTERVAL", "2m"]
  }],
  ["probe timeout equal to the interval", {
    values: { peerHealth: { probeTimeout: "1s" } },
    message: /peerHealth\.probeTimeout \(1s\) must be below peerHealth\.probeInterval \(1s\)/,
    pod: ["MIROIR_PEER_PROBE_TIMEOUT", "1s"]
  }],
  ["suspicion shorter than a probe", {
    values: { peerHealth: { suspicionTimeout: "50ms" } },
    message: /peerHealth\.suspicionTimeout \(50ms\) must be from peerHealth\.probeTimeout \(500ms\) to 1m/,
    pod: ["MIROIR_PEER_SUSPICION_TIMEOUT", "50ms"]
  }],
  ["self-fence before a round", {
    values: { peerHealth: { selfFenceAfter: "500ms" } },
    message: /peerHealth\.selfFenceAfter \(500ms\) must be from peerHealth\.probeInterval \(1s\) to 1m/,
    pod: ["MIROIR_SELF_FENCE_AFTER", "500ms"]
  }],
  ["17 indirect probes", {
    values: { peerHealth: { indirectProbes: 17 } },
    message: /at '\/peerHealth\/indirectProbes'/,
    pod: ["MIROIR_PEER_INDIRECT_PROBES", "17"]
  }],
  ["OTLP export every 99 ms", {
    values: { otlp: { metricExportInterval: 99 } },
    message: /at '\/otlp\/metricExportInterval': minimum: got 99, want 100/,
    pod: ["OTEL_METRIC_EXPORT_INTERVAL", "99"]
  }],
  ["OTLP export past a day", {
    values: { otlp: { metricExportInterval: 86400001 } },
    message: /at '\/otlp\/metricExportInterval': maximum/,
    pod: ["OTEL_METRIC_EXPORT_INTERVAL", "86400001"]
  }],
  ["listen on 256.1.1.1", {
    values: { listenHost: "256.1.1.1" },
    message: /at '\/listenHost': .*does not match pattern/,
    pod: ["MIROIR_HTTP_HOST", "256.1.1.1"]
  }],
  ["strategy Recreate with rollingUpdate", {
    values: { strategy: { type: "Recreate", rollingUpdate: { maxSurge: 1 } } },
    message: /strategy\.rollingUpdate may not be set with strategy\.type Recreate/
  }],
  ["a budget over 100%", {
    values: { podDisruptionBudget: { maxUnavailable: "150%" } },
    message: /at '\/podDisruptionBudget\/maxUnavailable'/
  }],
  ["listen on a host name", {
    values: { listenHost: "miroir.example.com" },
    message: /at '\/listenHost': .*does not match pattern/,
    pod: ["MIROIR_HTTP_HOST", "miroir.example.com"]
  }],
  ["extraEnv value as a number (the API server refuses it)", {
    values: { extraEnv: [{ name: "RETRIES", value: 5 }] },
    message: /at '\/extraEnv\/0\/value': got number, want string/
  }],
  ["extraEnv with value and valueFrom", {
    values: { extraEnv: [{ name: "X", value: "1", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }] },
    message: /at '\/extraEnv\/0': .*not/
  }],
  ["extraEnv name with =", {
    values: { extraEnv: [{ name: "A=B", value: "1" }] },
    message: /at '\/extraEnv\/0\/name': .*does not match pattern/
  }],
  ["extraEnv replacing the Service discovery looks up", {
    values: { extraEnv: [{ name: "MIROIR_PEER_DISCOVERY_SERVICE", value: "other" }] },
    message: /extraEnv may not set MIROIR_PEER_DISCOVERY_SERVICE: the chart sets it/
  }],
  ["podLabels overwriting the selector", {
    values: { podLabels: { "app.kubernetes.io/instance": "other" } },
    message:
      /podLabels may not set app\.kubernetes\.io\/instance: it is one of the labels that select the release's pods/
  }],
  ["commonLabels overwriting the selector", {
    values: { commonLabels: { "app.kubernetes.io/name": "other" } },
    message: /commonLabels may not set app\.kubernetes\.io\/name/
  }],
  ["a label value the API server refuses", {
    values: { podLabels: { team: "search team" } },
    message: /at '\/podLabels\/team': .*does not match pattern/
  }],
  ["no image repository", {
    values: { image: { repository: "" } },
    message: /image\.repository is required: no Miroir image is published/
  }],
  ["grace period shorter than the preStop delay plus shutdown", {
    values: { lifecycle: { preStopSleepSeconds: 5 }, terminationGracePeriodSeconds: 12 },
    message: /terminationGracePeriodSeconds \(12\) must be at least lifecycle\.preStopSleepSeconds \(5\) \+ 8/
  }],
  ["memory limit below 128Mi", {
    values: { resources: { limits: { memory: "100Mi" } } },
    message: /resources\.limits\.memory \(100Mi\) must be at least 128Mi/
  }],
  ["a fullnameOverride that is no Service name", {
    values: { fullnameOverride: "Search_Miroir" },
    message: /at '\/fullnameOverride': .*does not match pattern/
  }],
  ["a ServiceMonitor without the Prometheus Operator's API", {
    values: { serviceMonitor: { enabled: true } },
    message: /serviceMonitor\.enabled needs the Prometheus Operator's CRDs/
  }]
]

describe("chart values, accepted", () => {
  let octet = 60
  it.each(accepted)("%s: renders valid objects, and the pod service starts with the rendered env", async (_, row) => {
    const objects = await render("search", "search", { valuesFiles: [valuesFile(row.values)] })
    expect(objects.flatMap(violations)).toEqual([])
    const { deployment, env } = release(objects)
    const rendered = plainEnv(env)
    for (const [name, value] of Object.entries(row.env ?? {})) expect(rendered.get(name), name).toBe(value)
    row.deployment?.(deployment)
    // No string in the env holds a float's exponent form.
    for (const [name, value] of rendered) expect(value, name).not.toMatch(/^[0-9.]+e\+[0-9]+$/)
    const ip = `127.0.0.${octet++}`
    const environment = await podEnvironment(ip, rendered)
    // A collector nobody listens to, on loopback (nothing may leave this machine).
    if (environment.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) {
      environment.OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:9"
    }
    const pod = await startPod(environment)
    if (row.preStopSeconds !== undefined) {
      // As the kubelet runs it: the rendered command in the container, with the container's environment
      // (the pod's admin listener is on the pod's address here, as the environment says).
      const container = deployment.spec.template.spec.containers[0]
      const command = container.lifecycle.preStop.exec.command
      expect(command).toEqual(["node", "/app/miroir.mjs", "leave", "--delay", `${row.preStopSeconds}s`])
      expect(container.lifecycle.preStop.httpGet).toBeUndefined()
      const ran = await runExec(command, environment)
      expect(ran.code, ran.stderr).toBe(0)
      // DNS never listed the pod (its DNS answers nothing here): it has nobody to tell, and resigns.
      expect(ran.stdout).toMatch(/^miroir leave: left: .*\n$/)
      expect(ran.ms).toBeGreaterThanOrEqual(row.preStopSeconds * 1000)
    }
    const ended = await stop(pod.process)
    expect(ended.code, pod.process.output()).toBe(0)
  }, 90_000)
})

describe("chart values, refused", () => {
  it.each(refused)("%s: refused by helm template, naming the value", async (_, row) => {
    const outcome = await template("search", "search", { valuesFiles: [valuesFile(row.values)] })
    expect(outcome.code, outcome.stdout.slice(0, 2000)).not.toBe(0)
    expect(outcome.stderr).toMatch(row.message)
  })

  const byPod = refused.filter(([, row]) => row.pod !== undefined)
  it.each(byPod)("%s: the pod service refuses it too, in one line naming the variable", async (_, row) => {
    const [variable, value] = row.pod!
    const base = await render("search", "search", {})
    const environment = { ...await podEnvironment("127.0.0.90", plainEnv(release(base).env)), [variable]: value }
    const started = await spawnBundle(environment)
    const ended = await awaitExit(started)
    expect(ended.code, started.output()).toBe(1)
    const lines = started.output().trim().split("\n")
    expect(lines.filter((line) => line.includes(variable)), started.output()).toHaveLength(1)
  }, 60_000)
})

afterAll(() => rmSync(folder, { recursive: true, force: true }))
