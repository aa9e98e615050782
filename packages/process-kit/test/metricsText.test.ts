import { describe, expect, it } from "vitest"
import { metricSum, metricValue, parseSamples } from "../src/metricsText.js"

const SCRAPE = [
  "# HELP miroir_peer_discovery_lookups_total DNS lookups of the peers, by result",
  "# TYPE miroir_peer_discovery_lookups_total counter",
  "miroir_peer_discovery_lookups_total{result=\"ok\"} 12",
  "miroir_peer_discovery_lookups_total{result=\"timeout\",server=\"a,b}\\\"c\"} 3 1700000000000",
  "miroir_peer_discovery_lookups_total_created 5",
  "miroir_peer_pod_count 3",
  "process_cpu_seconds_total\t1.25",
  "miroir_large{le=\"+Inf\"} +Inf",
  "miroir_small -Inf",
  "miroir_missing NaN",
  "",
  "not a sample {"
].join("\n")

describe("metricsText", () => {
  it("reads every sample with its name, labels (escapes undone) and value, and skips the rest", () => {
    const samples = parseSamples(SCRAPE)
    expect(samples.map((sample) => sample.name)).toEqual([
      "miroir_peer_discovery_lookups_total",
      "miroir_peer_discovery_lookups_total",
      "miroir_peer_discovery_lookups_total_created",
      "miroir_peer_pod_count",
      "process_cpu_seconds_total",
      "miroir_large",
      "miroir_small",
      "miroir_missing"
    ])
    expect(samples[1]).toEqual({
      name: "miroir_peer_discovery_lookups_total",
      labels: { result: "timeout", server: "a,b}\"c" },
      value: 3
    })
    expect(samples[5]!.value).toBe(Number.POSITIVE_INFINITY)
    expect(samples[6]!.value).toBe(Number.NEGATIVE_INFINITY)
    expect(samples[7]!.value).toBeNaN()
  })

  it("gives the first sample of a name whose labels include the ones asked for", () => {
    expect(metricValue(SCRAPE, "miroir_peer_pod_count")).toBe(3)
    expect(metricValue(SCRAPE, "miroir_peer_discovery_lookups_total")).toBe(12)
    expect(metricValue(SCRAPE, "miroir_peer_discovery_lookups_total", { result: "timeout" })).toBe(3)
    expect(metricValue(SCRAPE, "miroir_peer_discovery_lookups_total", { result: "refused" })).toBeUndefined()
    expect(metricValue(SCRAPE, "process_cpu_seconds_total")).toBe(1.25)
    // A longer name that starts with the one asked for is another metric.
    expect(metricValue(SCRAPE, "miroir_peer_pod")).toBeUndefined()
  })

  it("sums every sample of a name", () => {
    expect(metricSum(SCRAPE, "miroir_peer_discovery_lookups_total")).toBe(15)
    expect(metricSum(SCRAPE, "miroir_nothing")).toBe(0)
  })
})
