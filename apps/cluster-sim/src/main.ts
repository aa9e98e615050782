/**
 * `pnpm start`: runs a scenario on a cluster of real Miroir pod processes — simulated (the cluster DNS
 * and the endpoints controller of this package), or with `--kube` on real Kubernetes components — shows
 * a live table, and ends with the report of the acceptance checks (exit code 0 only if all pass) and a
 * timeline chart next to it.
 *
 *   pnpm start [-- --pods 3] [--interval 1s] [--scenario default|steady] [--statefulset]
 *              [--shards 64] [--out report] [--keep-running] [--kube]
 *
 * The command line is an `effect/cli` Command (`pnpm start -- --help` describes every flag); values are
 * parsed by the pods' own configuration parsers (ConfigVariable), within the same limits, and a value
 * refused is said alone (`--pods must be an integer from 1 to 200, got 0`), without the help.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { MAX_POD_SHARDS } from "@miroir/pod-api/Shards"
import * as Client from "@miroir/pod-api/Client"
import { ConfigVariable, PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { Console, Data, Duration, Effect, Option, Result, Schedule, type Scope } from "effect"
import { CliError, CliOutput, Command, Flag } from "effect/cli"
import { type Cluster, publishedLabels } from "./Cluster.js"
import * as ClusterDns from "./simulator/ClusterDns.js"
import { defaultService } from "./simulator/DnsAnswers.js"
import * as EndpointsController from "./simulator/EndpointsController.js"
import * as Image from "./kube/Image.js"
import * as KubeCluster from "./kube/KubeCluster.js"
import * as LiveTable from "./LiveTable.js"
import { observe } from "./Observer.js"
import * as Report from "./Report.js"
import * as Scenario from "./Scenario.js"
import * as SimulatedCluster from "./simulator/SimulatedCluster.js"
import * as TimelineChart from "./TimelineChart.js"

class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}
class ChecksFailed extends Data.TaggedError("ChecksFailed")<{ readonly message: string }> {}

/** The most pods the simulator starts: past it two cores cannot run them. */
const MAX_PODS = 200
/** The shortest refresh interval the demo runs at: below it the observer's reads crowd the pods out. */
const MIN_INTERVAL = Duration.millis(100)

/**
 * A flag whose text is parsed by `parse`, the same parsers (and explanations) as the pods' own
 * environment variables: `--pods must be an integer from 1 to 200, got 0`.
 */
const parsed = <A>(flag: Flag.Flag<string>, name: string, parse: ConfigVariable.Parse<A>): Flag.Flag<A> =>
  Flag.mapEffect(flag, (text) =>
    Result.match(parse(text), {
      onFailure: (expected) =>
        Effect.fail(new CliError.ValidationError({ message: `--${name} must be ${expected}, got ${text}` })),
      onSuccess: Effect.succeed
    }))

/** The command line: `pnpm start [-- --pods 3] [--interval 1s] …`. */
const options = {
  pods: parsed(Flag.String("pods"), "pods", ConfigVariable.integer(1, MAX_PODS)).pipe(
    Flag.withMetavar("N"),
    Flag.withDefault(3),
    Flag.withDescription(`pods to start, 1 to ${MAX_PODS}`)
  ),
  interval: parsed(
    Flag.String("interval"),
    "interval",
    ConfigVariable.durationBetween(MIN_INTERVAL, PeerDiscoveryConfig.REFRESH_INTERVAL_RANGE.max)
  ).pipe(
    Flag.withMetavar("DURATION"),
    Flag.optional,
    Flag.withDescription("the pods' refresh interval R, such as 1s or 250ms (default 1s; 3s with --kube)")
  ),
  scenario: Flag.Literals("scenario", Scenario.scenarios).pipe(
    Flag.withDefault("default" as const),
    Flag.withDescription("default runs every step; steady only starts the pods")
  ),
  // Boolean flags are required unless they have a default.
  statefulset: Flag.Boolean("statefulset").pipe(
    Flag.withDefault(false),
    Flag.withDescription("StatefulSet pods, published under their hostnames (simulator only)")
  ),
  shards: parsed(Flag.String("shards"), "shards", ConfigVariable.integer(1, MAX_POD_SHARDS)).pipe(
    Flag.withMetavar("N"),
    Flag.withDefault(64),
    Flag.withDescription(`shards the pods partition, 1 to ${MAX_POD_SHARDS}`)
  ),
  out: Flag.String("out").pipe(
    Flag.withMetavar("DIR"),
    Flag.withDefault("report"),
    Flag.withDescription("folder of the report, the chart and the pods' logs")
  ),
  keepRunning: Flag.Boolean("keep-running").pipe(
    Flag.withDefault(false),
    Flag.withDescription("after the report, keep the cluster and the live table running until Ctrl-C")
  ),
  kube: Flag.Boolean("kube").pipe(
    Flag.withDefault(false),
    Flag.withDescription(
      "real Kubernetes components (built by scripts/install-test-deps.sh) instead of the simulator"
    )
  )
}

/** The command line, checked. */
interface Settings {
  readonly pods: number
  readonly shards: number
  readonly refreshInterval: Duration.Duration
  readonly scenario: Scenario.ScenarioName
  readonly statefulSet: boolean
  readonly out: string
  readonly keepRunning: boolean
  readonly kube: boolean
}

/** The flags as the command gives them. */
type Flags = { readonly [K in keyof typeof options]: (typeof options)[K] extends Flag.Flag<infer A> ? A : never }

const checked = (flags: Flags): Effect.Effect<Settings, UsageError> =>
  flags.kube && flags.statefulset
    ? Effect.fail(
      new UsageError({ message: "--statefulset runs on the simulator only (the chart installs a Deployment)" })
    )
    : Effect.succeed({
      pods: flags.pods,
      shards: flags.shards,
      // 1s on the simulator, 3s on Kubernetes (see kubeCluster).
      refreshInterval: Option.getOrElse(flags.interval, () => Duration.seconds(flags.kube ? 3 : 1)),
      scenario: flags.scenario,
      statefulSet: flags.statefulset,
      out: resolve(flags.out),
      keepRunning: flags.keepRunning,
      kube: flags.kube
    })

/** The simulator: this package's cluster DNS and endpoints controller. */
const simulatedCluster = (options: Settings): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.flatMap(ClusterDns.make(defaultService), (dns) =>
    SimulatedCluster.make(dns, {
      ...EndpointsController.defaults(options.refreshInterval, resolve(options.out, "pods")),
      statefulSet: options.statefulSet
    }))

/**
 * Real Kubernetes (`--kube`, as root, with the components scripts/install-test-deps.sh builds): the
 * control plane and a real node (kubelet, containerd, kube-proxy), the image built from the Dockerfile,
 * the chart installed with Helm by the image's digest, R set through its values, CoreDNS with kubeadm's
 * Corefile (which caches nothing of cluster.local).
 */
const kubeCluster = (options: Settings): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.flatMap(Image.build(), (image) =>
    KubeCluster.make({
      folder: mkdtempSync(join(options.out, "kube-")),
      release: "miroir",
      namespace: "default",
      replicas: options.pods,
      refreshInterval: options.refreshInterval,
      image,
      values: { shards: options.shards }
    }))

const program = (options: Settings) =>
  Effect.gen(function*() {
    mkdirSync(options.out, { recursive: true })
    // The one place the cluster is chosen.
    const cluster = options.kube ? yield* kubeCluster(options) : yield* simulatedCluster(options)
    console.log(
      `cluster: ${cluster.description}; ${options.scenario} scenario, R = ${
        Duration.format(options.refreshInterval)
      }; pod logs in ${
        // On Kubernetes the containers' logs are followed with `kubectl logs` into the run's folder.
        options.kube ? resolve(options.out, "kube-*", "pods") : resolve(options.out, "pods")}`
    )
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
          console.log(
            LiveTable.render(views, [], published).slice(0, views.length + 1).map((line) => `           ${line}`).join(
              "\n"
            )
          )
        }
      }
    })
    const report = Report.render(result, {
      cluster: cluster.description,
      pods: options.pods,
      statefulSet: options.statefulSet
    })
    writeFileSync(resolve(options.out, "report.md"), report)
    writeFileSync(resolve(options.out, "timeline.svg"), TimelineChart.render(result))
    console.log(`\n${report}`)
    console.log(`report: ${resolve(options.out, "report.md")}\nchart:  ${resolve(options.out, "timeline.svg")}`)
    if (options.keepRunning) {
      console.log("keeping the cluster running; Ctrl-C stops it")
      yield* Effect.all([observe(cluster, options.shards), publishedLabels(cluster)]).pipe(
        Effect.tap(([views, published]) =>
          Effect.sync(() => LiveTable.draw(LiveTable.render(views, result.events, published)))
        ),
        Effect.repeat(Schedule.spaced("500 millis"))
      )
    }
    if (!Report.allPassed(result)) {
      return yield* new ChecksFailed({ message: "some acceptance checks failed (see the report above)" })
    }
  }).pipe(Effect.scoped, Effect.provide(Client.layerFetch))

const command = Command.make("pnpm start --", options, (flags) => Effect.flatMap(checked(flags), program)).pipe(
  Command.withDescription(
    "Runs a scenario on a cluster of real Miroir pod processes and ends with the report of the acceptance checks (exit code 0 only if all pass)."
  )
)

/**
 * A command line the flags refuse is said alone, as the flags' own messages say it (`--pods must be an
 * integer from 1 to 200, got 0`, `Unrecognized flag: --bogus …`), not after the whole help; `--help` and
 * `--version` as effect/cli presents them.
 */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(event.errors.map((error) => error.message).join("\n"))
      : CliOutput.defaultPresenter.present(event)
}

const cli = Command.runWith(command, { version: "0.1.0" })

// `pnpm start -- --kube` hands the `--` on: it separates pnpm's arguments from ours, not ours from operands.
cli(process.argv.slice(2).filter((arg) => arg !== "--")).pipe(
  Effect.tapError((error) => CliError.isCliError(error) ? Effect.void : Console.error(error.message)),
  Effect.provide([CliOutput.layerPresenter(presenter), NodeServices.layer]),
  (main) => NodeRuntime.runMain(main, { disableErrorReporting: true })
)
