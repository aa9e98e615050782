/**
 * The Helm chart as the real Helm renders it, Helm 4 and Helm 3 alike: `helm lint --strict` and `helm
 * template` over a matrix of values files, every rendered object checked against the Kubernetes API
 * schemas, and the wiring that breaks discovery when wrong checked on the rendered objects (not on the
 * template source).
 */
import { PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { ConfigProvider, Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import * as AppConfig from "../../apps/miroir/src/AppConfig.js"
import { paths } from "@miroir/pod-api"
import { succeeded } from "./support/cli.js"
import { type Helm, helm, HELM3, HELM4, HELMS, type KubeObject, lint, render, template } from "./support/helm.js"
import { entrypoint } from "./support/image.js"
import { type Case, cases, inputs, LONGEST_RELEASE } from "./support/matrix.js"
import { nameProblems } from "./support/names.js"
import { containerPort, expectLockedDown, plainEnv, release, selects } from "./support/rendered.js"
import { violations } from "./support/schemas.js"

// One render per Helm and case, shared by its tests (helm is a process start each time).
const renders = new Map<string, Promise<Array<KubeObject>>>()
const rendered = (c: Case, h: Helm) => {
  const key = `${h.executable} ${c.name}`
  if (!renders.has(key)) renders.set(key, render(c.release, c.namespace, inputs(c), h))
  return renders.get(key)!
}

describe.each(HELMS)("$name", (h) => {
  it("is the release line the tests expect, built from its Go module", async () => {
    expect(succeeded(await helm(["version", "--short"], {}, h))).toMatch(h.line)
  })

  it("refuses a 60-character release name (53 at most), so the longest one the matrix renders is 53", async () => {
    const outcome = await template("a".repeat(60), "search", {}, h)
    expect(outcome.code).not.toBe(0)
    expect(outcome.stderr).toMatch(/release name .*53|53.*release name|length must not be longer than 53/i)
    expect(LONGEST_RELEASE).toHaveLength(53)
    expect(succeeded(await template(LONGEST_RELEASE, "search", {}, h))).toContain("kind: Deployment")
  })

  describe.each(cases)("chart, $name", (c) => {
    it("passes helm lint --strict", async () => {
      const outcome = await lint(inputs(c), h)
      expect(outcome.code, `${outcome.stdout}\n${outcome.stderr}`).toBe(0)
      expect(outcome.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/)
    })

    it("renders exactly the objects its values ask for, each valid against the Kubernetes API schema", async () => {
      const objects = await rendered(c, h)
      expect(objects.map((o) => o.kind).sort()).toEqual(c.kinds)
      expect(objects.flatMap(violations)).toEqual([])
    })

    it("names every object with a valid DNS label of at most 63 characters, no two alike", async () => {
      expect(nameProblems(await rendered(c, h))).toEqual([])
    })

    it("has a headless Service, named by MIROIR_PEER_DISCOVERY_SERVICE, selecting exactly the Deployment's pods", async () => {
      const { deployment, headless, services, objects } = release(await rendered(c, h))
      const selector = deployment.spec.selector.matchLabels
      expect(headless.spec.clusterIP).toBe("None")
      expect(headless.spec.selector).toEqual(selector)
      expect(selects(selector, deployment.spec.template.metadata.labels)).toBe(true)
      expect(headless.spec.publishNotReadyAddresses).toBeTypeOf("boolean")
      // Every other selector of the release picks the same pods: a Service, budget or policy that
      // selected other pods (or none) would serve, protect or open the wrong ones.
      for (const service of services) expect(service.spec.selector, service.metadata.name).toEqual(selector)
      for (const object of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
        expect(object.spec.selector.matchLabels).toEqual(selector)
      }
      for (const object of objects.filter((o) => o.kind === "NetworkPolicy")) {
        expect(object.spec.podSelector.matchLabels).toEqual(selector)
      }
    })

    it("names the headless Service's port as MIROIR_PEER_DISCOVERY_PORT_NAME says, reaching the port the pod serves", async () => {
      const { container, env, headless } = release(await rendered(c, h))
      const app = appSettings(env)
      const portName = env.get(PeerDiscoveryConfig.Variables.portName)?.value ?? PeerDiscoveryConfig.Defaults.portName
      const port = headless.spec.ports.find((p: any) => p.name === portName)
      // In A-record mode the SRV records are not read, but the port stays named for SRV clients.
      expect(port, `a port named ${portName} on ${headless.metadata.name}`).toBeDefined()
      expect(containerPort(container, port.targetPort)).toBe(app.httpPort)
      expect(env.get(PeerDiscoveryConfig.Variables.protocol)?.value ?? PeerDiscoveryConfig.Defaults.protocol).toBe(
        port.protocol.toLowerCase()
      )
    })

    it(`looks peers up by ${c.record.toUpperCase()} records, with a configuration the pod accepts`, async () => {
      const { env, headless } = release(await rendered(c, h))
      expect(env.get(PeerDiscoveryConfig.Variables.record)?.value).toBe(c.record)
      const raw = Object.fromEntries(
        Object.entries(PeerDiscoveryConfig.Variables).map(([key, variable]) => [key, env.get(variable)?.value])
      )
      // The Downward API values stand in for what the kubelet fills in.
      const settings = Effect.runSync(
        PeerDiscoveryConfig.make({ ...raw, podName: "miroir-0", podNamespace: c.namespace, podIp: "10.0.0.1" })
      )
      expect(settings.service).toBe(headless.metadata.name)
      expect(settings.record).toBe(c.record)
    })

    it("takes POD_NAME, POD_NAMESPACE and POD_IP from the Downward API", async () => {
      const { env } = release(await rendered(c, h))
      expect(env.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name")
      expect(env.get("POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace")
      expect(env.get("POD_IP")?.valueFrom?.fieldRef?.fieldPath).toBe("status.podIP")
    })

    it("exposes the ports the pod listens on and probes paths it serves", async () => {
      const { container, env } = release(await rendered(c, h))
      const app = appSettings(env)
      expect(containerPort(container, "http")).toBe(app.httpPort)
      expect(containerPort(container, "metrics")).toBe(app.metricsPort)
      // The probes on their own listener, which a flood of the HTTP port cannot queue ahead of.
      expect(Option.some(containerPort(container, "probes"))).toEqual(app.probePort)
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        const httpGet = container[probe]?.httpGet
        expect(paths, `${probe} path`).toContain(httpGet?.path)
        expect(Option.some(containerPort(container, httpGet.port)), `${probe} port ${httpGet.port}`).toEqual(
          app.probePort
        )
      }
      // Readiness never depends on discovery (/readyz answers while the process serves): a DNS outage
      // must not take every pod out of the Service at once.
      expect(container.readinessProbe.httpGet.path).toBe("/readyz")
      expect(container.livenessProbe.httpGet.path).toBe("/healthz")
      // The preStop hook, when rendered, is an exec of the image's own program (its entrypoint) with the
      // leave command and a delay; the network-facing API serves no leave.
      const preStop = container.lifecycle?.preStop
      if (preStop !== undefined) {
        expect(Object.keys(preStop)).toEqual(["exec"])
        const command: Array<string> = preStop.exec.command
        expect(command.slice(0, 2)).toEqual(entrypoint())
        expect(command.slice(2, 4)).toEqual(["leave", "--delay"])
        expect(command[4]).toMatch(/^\d+s$/)
        expect(command).toHaveLength(5)
      }
      expect(paths).not.toContain("/leave")
    })

    it("gives the pods no API token and a locked-down security context", async () => {
      const { deployment, container } = release(await rendered(c, h))
      expectLockedDown(deployment, container)
    })

    it("lets DNS out over UDP and TCP 53 and the pods reach each other, when a NetworkPolicy is rendered", async () => {
      const objects = await rendered(c, h)
      const { container } = release(objects)
      const policies = objects.filter((o) => o.kind === "NetworkPolicy")
      expect(policies.length).toBe(c.kinds.filter((kind) => kind === "NetworkPolicy").length)
      for (const policy of policies) {
        const egressPorts = policy.spec.egress.flatMap((rule: any) => (rule.to === undefined ? rule.ports ?? [] : []))
        // TCP too: Node asks without EDNS, so answers past ~6 pods come truncated and are asked again over TCP.
        expect(egressPorts).toEqual(
          expect.arrayContaining([{ port: 53, protocol: "UDP" }, { port: 53, protocol: "TCP" }])
        )
        const ingressPorts = policy.spec.ingress.flatMap((rule: any) => rule.ports ?? [])
        for (const name of ["http", "metrics"]) {
          expect(ingressPorts, `ingress to ${name}`).toContainEqual({
            port: containerPort(container, name),
            protocol: "TCP"
          })
        }
        // The probes' port is the node's alone (CNIs let the kubelet through): the pod network cannot flood it.
        expect(ingressPorts.map((p: { port: number }) => p.port)).not.toContain(containerPort(container, "probes"))
        // The ownership audit asks every peer at <address>:7700: egress to the release's own pods on that
        // port must be open (a rule with no `to` opens it to everywhere, which also does).
        const podLabels = release(objects).deployment.spec.template.metadata.labels
        const peerEgress = policy.spec.egress.some((rule: any) =>
          (rule.ports ?? []).some((p: any) => p.port === containerPort(container, "http") || p.port === "http") &&
          (rule.to === undefined ||
            rule.to.some((peer: any) =>
              peer.namespaceSelector === undefined && selects(peer.podSelector?.matchLabels, podLabels)
            ))
        )
        expect(peerEgress, "egress to the pods' http port (the ownership audit)").toBe(true)
      }
    })

    it("scrapes the metrics port of exactly one Service, the job the PrometheusRule's alerts select", async () => {
      const objects = await rendered(c, h)
      const monitors = objects.filter((o) => o.kind === "ServiceMonitor")
      const rules = objects.filter((o) => o.kind === "PrometheusRule")
      expect(monitors.length).toBe(c.kinds.filter((kind) => kind === "ServiceMonitor").length)
      for (const monitor of monitors) {
        for (const endpoint of monitor.spec.endpoints) {
          // The operator makes one scrape job for each selected Service that has the endpoint's port; its
          // job label is the Service's name. Two such Services would scrape every pod twice.
          const scraped = objects.filter((o) =>
            o.kind === "Service" && selects(monitor.spec.selector.matchLabels, o.metadata.labels) &&
            o.spec.ports.some((p: any) => p.name === endpoint.port)
          )
          expect(scraped.map((s) => s.metadata.name)).toHaveLength(1)
          expect(paths.includes(endpoint.path as never), `${endpoint.path} is the pod's metrics path, not an API path`)
            .toBe(false)
          expect(endpoint.path).toBe("/metrics")
          for (const rule of rules.flatMap((r) => r.spec.groups.flatMap((g: any) => g.rules))) {
            for (const [, job] of String(rule.expr).matchAll(/job="([^"]*)"/g)) {
              expect(job, `${rule.alert} selects job ${job}`).toBe(scraped[0]!.metadata.name)
            }
            for (const [, deployment] of String(rule.expr).matchAll(/deployment="([^"]*)"/g)) {
              expect(deployment, `${rule.alert} selects deployment ${deployment}`).toBe(
                release(objects).deployment.metadata.name
              )
            }
          }
        }
      }
    })
  })
})

describe.each(cases)("chart, $name, Helm 4 against Helm 3", (c) => {
  it("renders the same objects with both", async () => {
    expect(await rendered(c, HELM4)).toEqual(await rendered(c, HELM3))
  })
})

/** The pod service's settings from the rendered env, as the process would load them. */
const appSettings = (env: ReturnType<typeof release>["env"]) =>
  Effect.runSync(
    AppConfig.load.pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: Object.fromEntries(plainEnv(env)) })
      )
    )
  )
