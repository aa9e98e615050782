/**
 * A real Prometheus for tests (Debian package `prometheus`): on 127.0.0.1 and a free port, scraping
 * the targets a test sets (file-based discovery, so targets can change while it runs) at a short
 * interval, queried with PromQL over its HTTP API.
 */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { awaitReady, findExecutable, freePort, start, stop } from "./processes.js"

const INSTALL_HINT = "install the Debian package prometheus (apt-get install -y prometheus); .ci/run does"

/** One sample of an instant query. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A running Prometheus. */
export interface Prometheus {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Replaces the scraped targets (`host:port`, scraped at `/metrics`). */
  readonly setTargets: (targets: ReadonlyArray<string>) => Promise<void>
  /** Evaluates an instant PromQL query. */
  readonly query: (promql: string) => Promise<ReadonlyArray<Sample>>
  /** Stops it (by its pid) and removes its files. */
  readonly stop: () => Promise<void>
}

/** Starts Prometheus scraping every `scrapeInterval` (e.g. `250ms`) and waits until it is ready. */
export const startPrometheus = async (scrapeInterval = "250ms"): Promise<Prometheus> => {
  const binary = findExecutable("prometheus", INSTALL_HINT)
  const directory = await mkdtemp(join(tmpdir(), "miroir-prometheus-"))
  const port = await freePort()
  const targetsFile = join(directory, "targets.json")
  const setTargets = async (targets: ReadonlyArray<string>) => {
    // Written aside and renamed, so that Prometheus never reads half a file.
    await writeFile(`${targetsFile}.tmp`, JSON.stringify([{ targets, labels: { job: "miroir" } }]))
    await rename(`${targetsFile}.tmp`, targetsFile)
  }
  await setTargets([])
  await writeFile(
    join(directory, "prometheus.yml"),
    [
      "global:",
      `  scrape_interval: ${scrapeInterval}`,
      `  evaluation_interval: ${scrapeInterval}`,
      "scrape_configs:",
      "  - job_name: miroir",
      `    scrape_interval: ${scrapeInterval}`,
      `    scrape_timeout: ${scrapeInterval}`,
      "    file_sd_configs:",
      `      - files: ["${targetsFile}"]`,
      "        refresh_interval: 1s",
      ""
    ].join("\n")
  )
  const daemon = start(binary, [
    `--config.file=${join(directory, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(directory, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn"
  ])
  const url = `http://127.0.0.1:${port}`
  await awaitReady(daemon, `Prometheus on ${url} to be ready`, 30_000, async () => (await fetch(`${url}/-/ready`)).ok)
  return {
    url,
    setTargets,
    query: async (promql) => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = await response.json() as any
      if (body.status !== "success") throw new Error(`PromQL ${promql}: ${JSON.stringify(body)}`)
      return (body.data.result as Array<any>).map((sample) => ({ labels: sample.metric, value: Number(sample.value[1]) }))
    },
    stop: async () => {
      await stop(daemon)
      await rm(directory, { recursive: true, force: true })
    }
  }
}
