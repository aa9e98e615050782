/**
 * The kustomize base and its example overlay, rendered offline by `kubectl kustomize`, checked against
 * the Kubernetes API schema (kubernetes-models) and for the wiring that breaks discovery when wrong.
 * apiserver.test.ts applies the overlay to a real API server in a server-side dry run.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Components from "@miroir/cluster-sim/kube/Components"
import { PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import * as AppConfig from "../../apps/miroir/src/AppConfig.js"
import { entrypoint } from "./support/image.js"
import { paths } from "@miroir/pod-api"
import { EXAMPLE_OVERLAY_OBJECTS, kindsAndNames } from "./support/overlay.js"
import { expectLockedDown } from "./support/rendered.js"
import { violations } from "./support/schemas.js"

const folder = (path: string) => fileURLToPath(new URL(`../kustomize/${path}`, import.meta.url))

/**
 * Renders a kustomization with the real kubectl of the test components (v1.37, built by
 * scripts/install-test-deps.sh; no cluster needed) into plain objects.
 */
const render = (path: string): Array<any> =>
  parseAllDocuments(execFileSync(Components.path("kubectl"), ["kustomize", folder(path)], { encoding: "utf8" }))
    .map((document) => document.toJS())

/** The pod service's defaults: what the manifests must agree with when they set nothing. */
const appDefaults = Effect.runSync(
  AppConfig.load.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} })))
)

for (const path of ["base", "overlays/example"]) {
  describe(`kustomize ${path}`, () => {
    const objects = render(path)
    const deployment = objects.find((o) => o.kind === "Deployment")
    const services = objects.filter((o) => o.kind === "Service")
    const container = deployment?.spec.template.spec.containers[0]
    const env = new Map<string, any>(container?.env.map((variable: any) => [variable.name, variable]))
    const headlessName: string = env.get(PeerDiscoveryConfig.Variables.service)?.value
    const headless = services.find((service) => service.metadata.name === headlessName)

    it("renders a Deployment, a headless Service, a Service, a ServiceAccount and a PodDisruptionBudget, each valid against the Kubernetes API schema", () => {
      expect(objects.map((o) => o.kind).sort()).toEqual([
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "Service",
        "ServiceAccount"
      ])
      expect(objects.flatMap(violations)).toEqual([])
    })

    it("has a headless Service, named by MIROIR_PEER_DISCOVERY_SERVICE, selecting exactly the pods", () => {
      expect(headless, `a Service named ${headlessName}`).toBeDefined()
      expect(headless.spec.clusterIP).toBe("None")
      expect(headless.spec.selector).toEqual(deployment.spec.selector.matchLabels)
      expect(headless.spec.selector).toEqual(deployment.spec.template.metadata.labels)
      for (const service of services) expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels)
    })

    it("names the headless Service's port as MIROIR_PEER_DISCOVERY_PORT_NAME says (only a named port has SRV records)", () => {
      const portName = env.get(PeerDiscoveryConfig.Variables.portName)?.value ?? PeerDiscoveryConfig.Defaults.portName
      const port = headless.spec.ports.find((p: any) => p.name === portName)
      expect(port, `a port named ${portName}`).toBeDefined()
      const target = container.ports.find((p: any) => p.name === port.targetPort || p.containerPort === port.targetPort)
      expect(target?.containerPort).toBe(appDefaults.httpPort)
      expect(env.get(PeerDiscoveryConfig.Variables.protocol)?.value ?? "tcp").toBe(port.protocol.toLowerCase())
    })

    it("takes POD_NAME, POD_NAMESPACE and POD_IP from the Downward API", () => {
      expect(env.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name")
      expect(env.get("POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace")
      expect(env.get("POD_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP")
    })

    it("probes paths the pod service serves, on its ports, and exposes the ports it listens on", () => {
      const ports = new Map<string, number>(container.ports.map((p: any) => [p.name, p.containerPort]))
      expect(ports.get("http")).toBe(appDefaults.httpPort)
      expect(ports.get("metrics")).toBe(appDefaults.metricsPort)
      for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const httpGet = container[probe]?.httpGet
        expect(paths, probe).toContain(httpGet.path)
        expect(ports.has(httpGet.port), `${probe} port ${httpGet.port}`).toBe(true)
      }
      expect(container.readinessProbe.httpGet.path).toBe("/readyz")
      expect(container.livenessProbe.httpGet.path).toBe("/healthz")
    })

    it("gives the pods no API token and a locked-down security context", () => {
      expectLockedDown(deployment, container)
      expect(container.resources.requests).toBeDefined()
      expect(container.resources.limits).toBeDefined()
    })

    it("sets a valid discovery configuration", () => {
      const raw = Object.fromEntries(
        Object.entries(PeerDiscoveryConfig.Variables).map((
          [key, variable]
        ) => [key, env.get(variable)?.value as string | undefined])
      )
      const settings = Effect.runSync(PeerDiscoveryConfig.make({ ...raw, podName: "miroir-0", podIp: "10.0.0.1" }))
      expect(settings.service).toBe(headlessName)
    })
  })
}

describe("the example overlay", () => {
  const objects = render("overlays/example")
  const deployment = objects.find((o) => o.kind === "Deployment")
  const container = deployment.spec.template.spec.containers[0]
  const env = new Map<string, any>(container.env.map((variable: any) => [variable.name, variable]))

  it("sets its namespace on every object and five replicas", () => {
    expect(objects.every((o) => o.metadata.namespace === "search")).toBe(true)
    expect(deployment.spec.replicas).toBe(5)
  })

  it("prefixes every name, and MIROIR_PEER_DISCOVERY_SERVICE follows the headless Service's new name", () => {
    expect(kindsAndNames(objects)).toEqual(EXAMPLE_OVERLAY_OBJECTS)
    expect(env.get(PeerDiscoveryConfig.Variables.service).value).toBe("eu-miroir-headless")
    expect(deployment.spec.template.spec.serviceAccountName).toBe("eu-miroir")
  })

  it("selects its own pods only (its own instance label everywhere a selector is), so that another overlay in the namespace never mixes in", () => {
    const selector = deployment.spec.selector.matchLabels
    expect(selector["app.kubernetes.io/instance"]).toBe("eu-miroir")
    for (const service of objects.filter((o) => o.kind === "Service")) expect(service.spec.selector).toEqual(selector)
    expect(objects.find((o) => o.kind === "PodDisruptionBudget").spec.selector.matchLabels).toEqual(selector)
    for (const constraint of deployment.spec.template.spec.topologySpreadConstraints) {
      expect(constraint.labelSelector.matchLabels).toEqual(selector)
    }
  })

  it("names the image the operator built and pushed (the base names none that exists)", () => {
    expect(render("base").find((o) => o.kind === "Deployment").spec.template.spec.containers[0].image).toBe("miroir")
    expect(container.image).toBe("registry.example.com/search/miroir:0.1.0")
  })

  it("keeps the heap within the memory limit and a preStop delay within the grace period", () => {
    expect(env.get("NODE_OPTIONS").value).toBe("--max-old-space-size=128")
    expect(container.resources.limits.memory).toBe("256Mi")
    // The chart's hook: an exec of the image's program (its entrypoint), `leave --delay <n>s` in whole seconds.
    const command: Array<string> = container.lifecycle.preStop.exec.command
    expect(command.slice(0, 2)).toEqual(entrypoint())
    expect(command.slice(2, 4)).toEqual(["leave", "--delay"])
    const delay = /^(\d+)s$/.exec(command[4]!)
    expect(delay, command.join(" ")).not.toBeNull()
    expect(Number(delay![1]) + 8).toBeLessThanOrEqual(deployment.spec.template.spec.terminationGracePeriodSeconds)
  })
})
