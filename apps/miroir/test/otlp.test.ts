/**
 * OTLP export from a real pod process to a receiver in the test, decoded with the official OTLP
 * definitions: metrics (protobuf and JSON), the refresh spans, the resource, the flush at shutdown,
 * and a collector that refuses or never answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort } from "@miroir/process-kit/freePort"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { attributesOf, decode, type Receiver, startReceiver } from "./support/otlpReceiver.js"
import { ask, startPod } from "./support/podUnderTest.js"

const POD_IP = "127.0.0.21"
const srvRecords = [POD_IP, "127.0.3.9"].map((ip) => `${SRV_NAME} 5 IN SRV 0 50 7700 ${dashed(ip)}.${DOMAIN}`)

/** Every data point of the metric `name` in the decoded metrics requests so far. */
const pointsOf = (receiver: Receiver, name: string) =>
  receiver.requests
    .filter((request) => request.path === "/v1/metrics")
    .map(decode)
    .flatMap((request) => request.resourceMetrics ?? [])
    .flatMap((resourceMetrics: any) =>
      (resourceMetrics.scopeMetrics ?? []).flatMap((scope: any) =>
        (scope.metrics ?? []).filter((metric: any) => metric.name === name).map((metric: any) => ({
          resource: attributesOf(resourceMetrics.resource?.attributes),
          points: metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? []
        }))
      )
    )

describe("OTLP export", () => {
  let unbound: Unbound
  beforeAll(async () => {
    unbound = await startUnbound({ records: srvRecords })
  })
  afterAll(async () => {
    await unbound?.stop()
  })

  const environment = (endpoint: string, extra: Record<string, string> = {}) => ({
    MIROIR_DNS_SERVERS: unbound.server,
    MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "300ms",
    MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "200ms",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_METRIC_EXPORT_INTERVAL: "300",
    OTEL_BSP_SCHEDULE_DELAY: "300",
    OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=search%20infra",
    // What is measured here is the export and its flush at shutdown; the "left" hints add their own
    // bounded wait at SIGTERM (up to 3 s while DNS still lists the pod), tested in process.test.ts.
    MIROIR_PEER_HINTS: "off",
    ...extra
  })

  for (const protocol of ["http/protobuf", "http/json"] as const) {
    it(`pushes metrics and refresh spans over ${protocol}, with the pod's resource`, async () => {
      const receiver = await startReceiver()
      const pod = await startPod(POD_IP, environment(receiver.url, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol }))
      try {
        await waitUntil(
          "miroir_peer_pod_count and a refresh span at the receiver",
          10_000,
          async () =>
            pointsOf(receiver, "miroir_peer_pod_count").length > 0
            && receiver.requests.some((request) => request.path === "/v1/traces")
        )
        const contentType = protocol === "http/json" ? "application/json" : "application/x-protobuf"
        expect(receiver.requests.every((request) => request.contentType.startsWith(contentType))).toBe(true)

        const [podCount] = pointsOf(receiver, "miroir_peer_pod_count")
        expect(podCount!.points.map((point: any) => point.asDouble ?? point.asInt)).toContain(2)
        expect(podCount!.resource).toMatchObject({
          "service.name": "miroir",
          "service.instance.id": "miroir-7d9f8c6b5-21x2x4",
          "k8s.pod.name": "miroir-7d9f8c6b5-21x2x4",
          "k8s.namespace.name": "default",
          "k8s.pod.ip": POD_IP,
          "deployment.environment": "test",
          "team": "search infra"
        })

        const spans = receiver.requests
          .filter((request) => request.path === "/v1/traces")
          .map(decode)
          .flatMap((request) => request.resourceSpans ?? [])
          .flatMap((resourceSpans: any) => (resourceSpans.scopeSpans ?? []).flatMap((scope: any) => scope.spans ?? []))
        const refresh = spans.find((span: any) => span.name === "PeerDiscovery.refresh")
        expect(refresh).toBeDefined()
        expect(attributesOf(refresh.attributes)).toMatchObject({
          "dns.name": SRV_NAME,
          "dns.outcome": "ok",
          "peers.count": 2
        })
      } finally {
        const ended = await pod.stop()
        expect(ended.code).toBe(0)
        await receiver.stop()
      }
    })
  }

  it("flushes the metrics at shutdown", async () => {
    const receiver = await startReceiver()
    const pod = await startPod(POD_IP, environment(receiver.url, { OTEL_METRIC_EXPORT_INTERVAL: "3600000" }))
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(pointsOf(receiver, "miroir_peer_pod_count")).toHaveLength(0)
    const ended = await pod.stop()
    expect(ended.code).toBe(0)
    expect(pointsOf(receiver, "miroir_peer_pod_count").length).toBeGreaterThan(0)
    await receiver.stop()
  })

  it("keeps serving /peers when the collector refuses connections, and still stops in time", async () => {
    const closedPort = await freePort()
    const pod = await startPod(POD_IP, environment(`http://127.0.0.1:${closedPort}`))
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const body = await ask(pod.url, (api) => api.peers.peers())
    expect(body.peers).toEqual(["127-0-0-21", "127-0-3-9"])
    expect(body.stale).toBe(false)
    // Stopped by itself within STOP_GRACE (support/pod.ts), not killed: code 0 and no signal.
    const ended = await pod.stop()
    expect(ended).toMatchObject({ code: 0, signal: null })
  })

  it("exits 0 by itself on SIGTERM even when the collector never answers", async () => {
    const silent = await startReceiver({ silent: true })
    const pod = await startPod(POD_IP, environment(silent.url))
    await waitUntil("an export to hang at the collector", 5_000, async () => silent.requests.length > 0)
    // The exporter has no timeout of its own: without the pod's bound on its last flush the pod would wait
    // for this collector until SIGKILL. Code 0 and no signal: it stopped by itself within STOP_GRACE.
    const ended = await pod.stop()
    expect(ended).toMatchObject({ code: 0, signal: null })
    await silent.stop()
  })
})
