/**
 * The pod service as operators run it: real processes on distinct loopback addresses, each with its
 * own POD_IP, against a real DNS server (unbound) publishing their dashed-IP SRV records.
 */
import { createServer, type Server } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { metricValue } from "@miroir/process-kit/metricsText"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { freePort } from "@miroir/process-kit/freePort"
import { type Started, waitUntil } from "@miroir/test-support/processKitAsPromises"
import { dashed, DOMAIN, SRV_NAME } from "./support/dns.js"
import { logRecords } from "./support/logs.js"
import { ask, type Pod, spawnPod, startPod, waitForExit } from "./support/podUnderTest.js"

const IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
const srvRecord = (ip: string, total: number) =>
  `${SRV_NAME} 5 IN SRV 0 ${Math.floor(100 / total)} 7700 ${dashed(ip)}.${DOMAIN}`

describe("pod processes against unbound", () => {
  let unbound: Unbound
  let pods: Array<Pod> = []

  beforeAll(async () => {
    unbound = await startUnbound({ records: IPS.map((ip) => srvRecord(ip, IPS.length)) })
    pods = await Promise.all(IPS.map((ip) =>
      startPod(ip, {
        MIROIR_DNS_SERVERS: unbound.server,
        MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "500ms",
        MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "300ms",
        MIROIR_SHARDS: "32"
      })
    ))
  })
  afterAll(async () => {
    await Promise.all(pods.map((pod) => pod.stop()))
    await unbound?.stop()
  })

  it("every pod lists all three, itself by its dashed POD_IP", async () => {
    for (const pod of pods) {
      const body = await ask(pod.url, (api) => api.peers.peers())
      expect(body).toMatchObject({ self: dashed(pod.ip), peers: IPS.map(dashed), stale: false, selfInDns: true })
    }
  })

  it("the pods own a disjoint cover of the shards, and /metrics agrees with /peers and /ownership", async () => {
    const owned = await Promise.all(
      pods.map((pod) => ask(pod.url, (api) => api.ownership.ownership({ query: {} })))
    )
    const all = owned.flatMap((body) => body.owned as Array<number>).sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 32 }, (_, i) => i))
    for (const [i, pod] of pods.entries()) {
      const metrics = await (await fetch(pod.metricsUrl)).text()
      expect(metricValue(metrics, "miroir_peer_pod_count")).toBe(3)
      expect(metricValue(metrics, "miroir_peer_discovery_self_in_dns")).toBe(1)
      expect(metricValue(metrics, "miroir_owned_shards_count")).toBe(owned[i]!.owned.length)
      expect(metricValue(metrics, "miroir_peer_discovery_lookups_total", { result: "ok" })).toBeGreaterThan(0)
      expect(metricValue(metrics, "miroir_peer_discovery_last_success_timestamp_seconds")).toBeGreaterThan(
        Date.now() / 1000 - 60
      )
      expect(metrics).toMatch(/^miroir_peer_discovery_lookup_duration_seconds_bucket\{/m)
      expect(metricValue(metrics, "process_resident_memory_bytes")).toBeGreaterThan(1e6)
      expect(metrics).toMatch(/^# TYPE process_cpu_seconds_total counter$/m)
      expect(metricValue(metrics, "process_cpu_seconds_total")).toBeGreaterThan(0)
    }
  })

  it("follows a pod joining and leaving DNS within a few intervals", async () => {
    await unbound.addRecords([srvRecord("127.0.0.9", 4)])
    const four = [...IPS, "127.0.0.9"].map(dashed)
    await waitUntil(
      "every pod to see four peers",
      5_000,
      async () =>
        (await Promise.all(pods.map((pod) => ask(pod.url, (api) => api.peers.peers())))).every((body) =>
          body.peers.join() === four.join()
        )
    )
    await unbound.removeName(SRV_NAME)
    await unbound.addRecords(IPS.map((ip) => srvRecord(ip, 3)))
    await waitUntil(
      "every pod to see three peers again",
      5_000,
      async () =>
        (await Promise.all(pods.map((pod) => ask(pod.url, (api) => api.peers.peers())))).every((body) =>
          body.peers.length === 3
        )
    )
  })

  it("a pod stops by itself on SIGTERM with exit code 0", async () => {
    const pod = pods.pop()!
    // Within STOP_GRACE (support/pod.ts), after which it would have been killed: code 0 and no signal.
    const ended = await pod.stop()
    // Code 0 is the teardown's answer to a run interrupted and nothing else (Serve.ts): the signal's stop,
    // not a failure, which exits 1.
    expect(ended).toMatchObject({ code: 0, signal: null })
  })
})

describe.concurrent("bad configuration", () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    // The interval was not set: the error says its value is the default, and names only the variable set.
    [
      "MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT",
      "20s",
      "a duration below the refresh interval (15s, the default: MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL is unset)"
    ],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "often", "a duration from 10ms to 1h"],
    ["MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL", "1ms", "a duration from 10ms to 1h"],
    ["MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT", "597h", "a duration from 5ms to 1h"],
    ["OTEL_METRIC_EXPORT_INTERVAL", "2147483648", "an integer from 100 to 86400000"],
    ["POD_IP", "10.0.0.256", "an IPv4 or IPv6 address"],
    ["MIROIR_HTTP_PORT", "http", "an integer from 1 to 65535"],
    // Port 0 would listen on a random port while the pod asks its peers on the same number.
    ["MIROIR_HTTP_PORT", "0", "an integer from 1 to 65535"],
    ["MIROIR_SHARDS", "0", "an integer from 1 to 65536"],
    ["MIROIR_LOG_FORMAT", "xml", "one of \"json\", \"pretty\""],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "one of \"http/protobuf\", \"http/json\""],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "an http:// or https:// URL"],
    ["MIROIR_ADMIN_HOST", "0.0.0.0", "a loopback address (127.0.0.0/8 or ::1)"],
    ["MIROIR_ADMIN_HOST", "10.0.0.1", "a loopback address (127.0.0.0/8 or ::1)"],
    ["MIROIR_ADMIN_PORT", "0", "an integer from 1 to 65535"]
  ]
  it.each(cases)("%s=%s exits 1 with one line naming it", async (variable, value, expected) => {
    const started = spawnPod({ POD_NAME: "miroir-0", [variable]: value })
    // Generous: a dozen pod processes compile their TypeScript at once on two cores.
    const ended = await waitForExit(started, 90_000)
    expect(ended.code).toBe(1)
    const lines = started.output().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^invalid configuration: ${variable}=${JSON.stringify(value)}: expected `))
    expect(lines[0]).toContain(expected)
  }, 120_000)
})

describe("a refresh interval set alone", () => {
  it("MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL=2s starts, with the lookup timeout derived from it (1s)", async () => {
    const pod = await startPod("127.0.0.8", {
      // Nothing answers there: discovery fails and the pod starts anyway, as it should.
      MIROIR_DNS_SERVERS: `127.0.0.1:${await freePort()}`,
      MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "2s"
    })
    try {
      // The start's record: the one that says what the pod runs with.
      const started = logRecords(pod.process.output()).find((record) => "refreshInterval" in record.annotations)
      expect(started).toMatchObject({ level: "INFO", annotations: { refreshInterval: "2s", lookupTimeout: "1s" } })
    } finally {
      await pod.stop()
    }
  })
})

/** What the process wrote on stderr, collected from the start (its logs go to stdout). */
const stderrOf = (started: Started): () => string => {
  let text = ""
  started.child.stderr?.on("data", (chunk) => (text += String(chunk)))
  return () => text
}

/** Listens on `host:port` until closed, to make that port unavailable to a pod. */
const occupy = (host: string, port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(port, host, () => resolve(server))
  })

describe("start-up failures that are not configuration errors", () => {
  const base = async (host: string, adminHost = host) => ({
    POD_NAME: "miroir-0",
    MIROIR_HTTP_HOST: host,
    // Its admin listener on a loopback address of its own: 127.0.0.1's default port may be another pod's.
    MIROIR_ADMIN_HOST: adminHost,
    MIROIR_ADMIN_PORT: String(await freePort(adminHost)),
    // Nothing answers there: discovery fails fast and the pod starts anyway, as it should.
    MIROIR_DNS_SERVERS: `127.0.0.1:${await freePort()}`,
    MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "100ms"
  })
  const expectOneLine = async (env: Record<string, string>, pattern: RegExp) => {
    const started = spawnPod(env)
    const stderr = stderrOf(started)
    const ended = await waitForExit(started, 90_000)
    expect(ended.code).toBe(1)
    const lines = stderr().trim().split("\n")
    expect(lines, started.output()).toHaveLength(1)
    expect(lines[0]).toMatch(pattern)
  }

  // Each port taken in turn, on a host of its own; the HTTP server's error names the server.
  for (
    const [port, host, saying] of [
      ["HTTP", "127.0.0.6", "^cannot start the HTTP server: .*"],
      ["metrics", "127.0.0.7", ""]
    ] as const
  ) {
    it(`the ${port} port already in use: exits 1 with one line saying so`, async () => {
      const [first, second] = [await freePort(host), await freePort(host)]
      const [http, metrics, taken] = port === "HTTP" ? [first, second, first] : [first, second, second]
      const holder = await occupy(host, taken)
      try {
        await expectOneLine(
          { ...(await base(host)), MIROIR_HTTP_PORT: String(http), MIROIR_METRICS_PORT: String(metrics) },
          new RegExp(`${saying}EADDRINUSE.*${host}:${taken}`)
        )
      } finally {
        holder.close()
      }
    }, 120_000)
  }

  it("the admin port already in use: exits 1 with one line naming its variables", async () => {
    const host = "127.0.0.176"
    const taken = await freePort(host)
    const holder = await occupy(host, taken)
    try {
      await expectOneLine(
        { ...(await base(host)), MIROIR_ADMIN_PORT: String(taken), MIROIR_HTTP_PORT: String(await freePort(host)) },
        new RegExp(
          `^cannot start the admin listener on ${host}:${taken} \\(MIROIR_ADMIN_HOST, MIROIR_ADMIN_PORT\\): .*EADDRINUSE`
        )
      )
    } finally {
      holder.close()
    }
  }, 120_000)

  it("an address that is not this host's: exits 1 with one line saying so", async () => {
    // A documentation address (TEST-NET-3, RFC 5737): never assigned to an interface, and nothing is sent.
    await expectOneLine(
      { ...(await base("203.0.113.7", "127.0.0.177")), MIROIR_HTTP_PORT: "17700", MIROIR_METRICS_PORT: "19090" },
      /EADDRNOTAVAIL.*203\.0\.113\.7/
    )
  }, 120_000)
})
