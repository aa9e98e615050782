/**
 * Miroir's release as an operator handles it: `helm install` of the chart (uninstalled when the scope
 * closes), `helm upgrade` for a rolling update and `helm rollback`, each followed by `kubectl rollout
 * status`; helm with the cluster's kubeconfig and a Helm home of the run's own, so that nothing of the
 * machine's Helm settings or caches changes what it does.
 */
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { type CliError, run } from "../Cli.js"
import * as Components from "../Components.js"

/** A command-line tool run against the cluster: its arguments in, its output out. */
export type Tool = (args: ReadonlyArray<string>) => Effect.Effect<string, CliError>

/** helm and kubectl, set up for the cluster. */
export interface ClusterTools {
  readonly helm: Tool
  readonly kubectl: Tool
}

/** helm with `kubeconfig` and a private Helm home in `<folder>/helm`, and kubectl with `kubeconfig`. */
export const clusterTools = (folder: string, kubeconfig: string): ClusterTools => {
  const helmHome = join(folder, "helm")
  return {
    helm: (args) =>
      run(Components.path("helm"), args, {
        KUBECONFIG: kubeconfig,
        HELM_CACHE_HOME: join(helmHome, "cache"),
        HELM_CONFIG_HOME: join(helmHome, "config"),
        HELM_DATA_HOME: join(helmHome, "data")
      }),
    kubectl: (args) => run(Components.path("kubectl"), ["--kubeconfig", kubeconfig, ...args])
  }
}

/** A release of the chart: where the chart is, the release's name and namespace, and its values file. */
export interface Release {
  readonly chart: string
  readonly name: string
  readonly namespace: string
  readonly valuesFile: string
}

/** The names the chart gave the release's objects, read from its manifest. */
export interface ReleaseNames {
  /** The Deployment (the chart's full name). */
  readonly deployment: string
  /** The headless Service DNS publishes the pods by (the pods' `MIROIR_PEER_DISCOVERY_SERVICE`). */
  readonly headless: string
}

/**
 * Creates the release's namespace (unless `default`), runs `helm install` with the values file, and adds
 * the `helm uninstall` that runs when the scope closes; succeeds with the names of its Deployment and
 * headless Service.
 */
export const installRelease = (
  { helm, kubectl }: ClusterTools,
  release: Release
): Effect.Effect<ReleaseNames, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const { chart, namespace, valuesFile } = release
    if (namespace !== "default") {
      yield* kubectl(["create", "namespace", namespace])
    }
    yield* helm(["install", release.name, chart, "--namespace", namespace, "-f", valuesFile])
    yield* Effect.addFinalizer(() =>
      Effect.ignore(
        helm(["uninstall", release.name, "--namespace", namespace, "--wait", "--timeout", "20s"])
      )
    )
    const manifest = yield* helm(["get", "manifest", release.name, "--namespace", namespace])
    const deployment = /kind: Deployment\nmetadata:\n {2}name: (\S+)/.exec(manifest)?.[1]
    const headless = /MIROIR_PEER_DISCOVERY_SERVICE\n\s+value: "?([^"\n]+)"?/.exec(manifest)?.[1]
    if (deployment === undefined || headless === undefined) {
      return yield* Effect.fail(
        new Error(`helm install of ${chart}: no Deployment or headless Service in the manifest`)
      )
    }
    return { deployment, headless }
  })

/** `kubectl rollout status` of `deployment` until it has rolled, within `timeout`; succeeds with the time then. */
const rolledOut = (kubectl: Tool, release: Release, deployment: string, timeout: string) =>
  kubectl(["rollout", "status", `deployment/${deployment}`, "--namespace", release.namespace, `--timeout=${timeout}`])
    .pipe(Effect.map(() => Date.now()))

/**
 * A rolling update: `helm upgrade` with the values file, `set` (as `--set`) and a new pod annotation, so
 * that the pod template changes; then waits until `deployment` has rolled (KubeCluster's `rollOut`).
 */
export const rollOut = (
  { helm, kubectl }: ClusterTools,
  release: Release,
  deployment: string,
  { set = [], timeout }: { readonly set?: ReadonlyArray<string>; readonly timeout: string }
): Effect.Effect<number, CliError> =>
  Effect.gen(function*() {
    yield* helm([
      "upgrade",
      release.name,
      release.chart,
      "--namespace",
      release.namespace,
      "-f",
      release.valuesFile,
      ...set.flatMap((value) => ["--set", value]),
      "--set-string",
      `podAnnotations.rollout=${Date.now()}`
    ])
    return yield* rolledOut(kubectl, release, deployment, timeout)
  })

/**
 * `helm rollback` to `revision` with `args` after it; then waits until `deployment` has rolled
 * (KubeCluster's `rollBack`).
 */
export const rollBack = (
  { helm, kubectl }: ClusterTools,
  release: Release,
  deployment: string,
  { args = [], revision, timeout }: {
    readonly revision: number
    readonly args?: ReadonlyArray<string>
    readonly timeout: string
  }
): Effect.Effect<number, CliError> =>
  Effect.gen(function*() {
    yield* helm(["rollback", release.name, String(revision), "--namespace", release.namespace, ...args])
    return yield* rolledOut(kubectl, release, deployment, timeout)
  })
