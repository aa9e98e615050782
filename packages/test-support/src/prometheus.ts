/**
 * A real Prometheus for tests (Debian package `prometheus`): on 127.0.0.1 and a free port, scraping
 * the targets a test sets (file-based discovery, so targets can change while it runs) at a short
 * interval, queried with PromQL over its HTTP API.
 */
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { findExecutable } from "./findExecutable.js"
import { awaitReady, start, stop } from "./processKitAsPromises.js"

const INSTALL_HINT = "install the Debian package prometheus (apt-get install -y prometheus); .ci/run does"

/** One sample of an instant query. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** A group of targets with the labels Prometheus attaches to their series (as Kubernetes discovery would). */
export interface TargetGroup {
  readonly targets: ReadonlyArray<string>
  readonly labels?: Readonly<Record<string, string>>
}

/** One alert as Prometheus's `/api/v1/alerts` lists it. */
export interface Alert {
  readonly labels: Readonly<Record<string, string>>
  /** `pending` while its `for` runs, then `firing`. */
  readonly state: "pending" | "firing" | "inactive"
}

/** How Prometheus runs. */
export interface Options {
  /** Scrape and rule evaluation interval, e.g. `250ms`. */
  readonly scrapeInterval?: string
  /** Rule files (Prometheus's own format, `groups:`) to load. */
  readonly ruleFiles?: ReadonlyArray<string>
}

/** A running Prometheus. */
export interface Prometheus {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Replaces the scraped targets (`host:port`, scraped at `/metrics`) of job `miroir`. */
  readonly setTargets: (targets: ReadonlyArray<string>) => Promise<void>
  /** Replaces the scraped target groups, each with its own labels (job `miroir` unless a group sets `job`). */
  readonly setTargetGroups: (groups: ReadonlyArray<TargetGroup>) => Promise<void>
  /** Evaluates an instant PromQL query. */
  readonly query: (promql: string) => Promise<ReadonlyArray<Sample>>
  /** The alerts of the loaded rules that are pending or firing now. */
  readonly alerts: () => Promise<ReadonlyArray<Alert>>
  /** Stops it (by its pid) and removes its files. */
  readonly stop: () => Promise<void>
}

/**
 * Starts Prometheus scraping every `scrapeInterval` (e.g. `250ms`; or {@link Options}) and waits until
 * it is ready.
 */
export const startPrometheus = async (options: string | Options = "250ms"): Promise<Prometheus> => {
  const { ruleFiles = [], scrapeInterval = "250ms" } = typeof options === "string"
    ? { scrapeInterval: options }
    : options
  const binary = findExecutable("prometheus", INSTALL_HINT)
  const directory = await mkdtemp(join(tmpdir(), "miroir-prometheus-"))
  const port = await freePort()
  const targetsFile = join(directory, "targets.json")
  const setTargetGroups = async (groups: ReadonlyArray<TargetGroup>) => {
    // Written aside and renamed, so that Prometheus never reads half a file.
    await writeFile(
      `${targetsFile}.tmp`,
      JSON.stringify(groups.map((group) => ({ targets: group.targets, labels: { job: "miroir", ...group.labels } })))
    )
    await rename(`${targetsFile}.tmp`, targetsFile)
  }
  const setTargets = (targets: ReadonlyArray<string>) => setTargetGroups([{ targets }])
  await setTargets([])
  await writeFile(
    join(directory, "prometheus.yml"),
    [
      "global:",
      `  scrape_interval: ${scrapeInterval}`,
      `  evaluation_interval: ${scrapeInterval}`,
      ...(ruleFiles.length === 0 ? [] : ["rule_files:", ...ruleFiles.map((file) => `  - "${file}"`)]),
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
    setTargetGroups,
    alerts: async () => {
      const body = await (await fetch(`${url}/api/v1/alerts`)).json() as any
      if (body.status !== "success") throw new Error(`alerts: ${JSON.stringify(body)}`)
      return body.data.alerts as ReadonlyArray<Alert>
    },
    query: async (promql) => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = await response.json() as any
      if (body.status !== "success") throw new Error(`PromQL ${promql}: ${JSON.stringify(body)}`)
      return (body.data.result as Array<any>).map((sample) => ({
        labels: sample.metric,
        value: Number(sample.value[1])
      }))
    },
    stop: async () => {
      await stop(daemon)
      await rm(directory, { recursive: true, force: true })
    }
  }
}
