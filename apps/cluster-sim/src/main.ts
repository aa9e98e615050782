/**
 * `pnpm start`: runs a scenario on a cluster of real Miroir pod processes — simulated (the cluster DNS
 * and the endpoints controller of this package), or with `--kube` on real Kubernetes components — shows
 * a live table, and ends with the report of the acceptance checks (exit code 0 only if all pass) and a
 * timeline chart next to it.
 *
 *   pnpm start [-- --pods 3] [--interval 1s] [--scenario default|steady] [--statefulset]
 *              [--shards 64] [--out report] [--keep-running] [--kube]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import * as Client from "@miroir/miroir/HttpApi/Client"
import { Data, Duration, Effect, Schedule, type Scope } from "effect"
import { type Cluster, publishedLabels } from "./Cluster.js"
import * as ClusterDns from "./ClusterDns.js"
import { defaultService } from "./DnsAnswers.js"
import * as EndpointsController from "./EndpointsController.js"
import * as KubeCluster from "./kube/KubeCluster.js"
import * as LiveTable from "./LiveTable.js"
import { observe } from "./Observer.js"
import * as Report from "./Report.js"
import * as Scenario from "./Scenario.js"
import * as SimulatedCluster from "./SimulatedCluster.js"
import * as TimelineChart from "./TimelineChart.js"

class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}
class ChecksFailed extends Data.TaggedError("ChecksFailed")<{ readonly message: string }> {}

const usage = "usage: pnpm start [-- --pods N] [--interval 1s|250ms] [--scenario default|steady] [--statefulset] [--shards N] [--out DIR] [--keep-running] [--kube]"

const parseOptions = Effect.try({
  try: () =>
    parseArgs({
      args: process.argv.slice(2).filter((arg) => arg !== "--"),
      options: {
        pods: { type: "string", default: "3" },
        // 1s on the simulator, 3s on Kubernetes (see kubeCluster).
        interval: { type: "string" },
        scenario: { type: "string", default: "default" },
        statefulset: { type: "boolean", default: false },
        shards: { type: "string", default: "64" },
        out: { type: "string", default: "report" },
        "keep-running": { type: "boolean", default: false },
        kube: { type: "boolean", default: false },
        help: { type: "boolean", default: false }
      }
    }).values,
  catch: (error) => new UsageError({ message: `${(error as Error).message}\n${usage}` })
}).pipe(
  Effect.flatMap((values) => {
    const pods = Number(values.pods)
    const shards = Number(values.shards)
    const intervalText = values.interval ?? (values.kube ? "3s" : "1s")
    const interval = /^(\d+)(ms|s)$/.exec(intervalText)
    const scenario = values.scenario as Scenario.ScenarioName
    if (values.help) return Effect.fail(new UsageError({ message: usage }))
    if (!Number.isInteger(pods) || pods < 1 || pods > 200) return Effect.fail(new UsageError({ message: `--pods must be an integer from 1 to 200, got ${values.pods}` }))
    if (!Number.isInteger(shards) || shards < 1 || shards > 65_536) return Effect.fail(new UsageError({ message: `--shards must be an integer from 1 to 65536, got ${values.shards}` }))
    if (interval === null) return Effect.fail(new UsageError({ message: `--interval must look like 1s or 250ms, got ${intervalText}` }))
    if (values.kube && values.statefulset) return Effect.fail(new UsageError({ message: "--statefulset runs on the simulator only (the chart installs a Deployment)" }))
    if (!Scenario.scenarios.includes(scenario)) return Effect.fail(new UsageError({ message: `--scenario must be one of ${Scenario.scenarios.join(", ")}, got ${values.scenario}` }))
    const refreshInterval = Duration.millis(Number(interval[1]) * (interval[2] === "s" ? 1000 : 1))
    if (Duration.toMillis(refreshInterval) < 100) return Effect.fail(new UsageError({ message: `--interval must be at least 100ms, got ${intervalText}` }))
    return Effect.succeed({
      pods,
      shards,
      refreshInterval,
      scenario,
      statefulSet: values.statefulset,
      out: resolve(values.out),
      keepRunning: values["keep-running"],
      kube: values.kube
    })
  })
)

/** The command line, parsed. */
type Options = Effect.Effect.Success<typeof parseOptions>

/** The simulator: this package's cluster DNS and endpoints controller. */
const simulatedCluster = (options: Options): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.flatMap(ClusterDns.make(defaultService), (dns) =>
    SimulatedCluster.make(dns, {
      ...EndpointsController.defaults(options.refreshInterval, resolve(options.out, "pods")),
      statefulSet: options.statefulSet
    }))

/**
 * Real Kubernetes components (`--kube`, built by scripts/install-test-deps.sh): the chart installed with
 * Helm, R set through its values. CoreDNS keeps kubeadm's Corefile but with TTLs of 1 s instead of 30 s:
 * with `cache 30`, no pod polling DNS could see a change within 2R of a short interval.
 */
const kubeCluster = (options: Options): Effect.Effect<Cluster, Error, Scope.Scope> =>
  KubeCluster.make({
    folder: mkdtempSync(join(options.out, "kube-")),
    release: "miroir",
    namespace: "default",
    replicas: options.pods,
    refreshInterval: options.refreshInterval,
    dnsTtls: { ttl: 1, cache: 1 },
    values: { shards: options.shards }
  })

const program = Effect.gen(function*() {
  const options = yield* parseOptions
  mkdirSync(options.out, { recursive: true })
  // The one place the cluster is chosen.
  const cluster = options.kube ? yield* kubeCluster(options) : yield* simulatedCluster(options)
  console.log(`cluster: ${cluster.description}; ${options.scenario} scenario, R = ${Duration.format(options.refreshInterval)}; pod logs in ${resolve(options.out, "pods")}`)
  let printedEvents = 0
  const result = yield* Scenario.run(options.scenario, cluster, {
    pods: options.pods,
    refreshInterval: options.refreshInterval,
    shards: options.shards,
    onViews: (views, events, published) => {
      if (process.stdout.isTTY) {
        LiveTable.draw(LiveTable.render(views, events, published))
        return
      }
      for (; printedEvents < events.length; printedEvents++) {
        const event = events[printedEvents]!
        console.log(`${((event.at - (events[0]?.at ?? event.at)) / 1000).toFixed(2).padStart(7)} s  ${event.label}`)
        console.log(LiveTable.render(views, [], published).slice(0, views.length + 1).map((line) => `           ${line}`).join("\n"))
      }
    }
  })
  const report = Report.render(result, { cluster: cluster.description, pods: options.pods, statefulSet: options.statefulSet })
  writeFileSync(resolve(options.out, "report.md"), report)
  writeFileSync(resolve(options.out, "timeline.svg"), TimelineChart.render(result))
  console.log(`\n${report}`)
  console.log(`report: ${resolve(options.out, "report.md")}\nchart:  ${resolve(options.out, "timeline.svg")}`)
  if (options.keepRunning) {
    console.log("keeping the cluster running; Ctrl-C stops it")
    yield* Effect.all([observe(cluster, options.shards), publishedLabels(cluster)]).pipe(
      Effect.tap(([views, published]) => Effect.sync(() => LiveTable.draw(LiveTable.render(views, result.events, published)))),
      Effect.repeat(Schedule.spaced("500 millis"))
    )
  }
  if (!Report.allPassed(result)) {
    return yield* new ChecksFailed({ message: "some acceptance checks failed (see the report above)" })
  }
}).pipe(
  Effect.scoped,
  Effect.provide(Client.layerFetch),
  Effect.tapError((error) => Effect.sync(() => console.error(error.message)))
)

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
