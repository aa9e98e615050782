/**
 * The machine's kube-proxy (nftables mode), run by the first node: the nodes of one machine share its
 * network namespace, so one kube-proxy serves them all. Its nftables tables (`ip kube-proxy`, `ip6
 * kube-proxy`) are deleted once it has stopped.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { freePort } from "@miroir/process-kit/freePort"
import { Duration, Effect, type Scope } from "effect"
import * as Components from "../Components.js"
import { daemon } from "./daemon.js"
import * as Host from "./host.js"
import { kubeProxyConfig } from "./nodeConfig.js"
import { failedAt, type NodeError } from "./nodeError.js"
import { POD_SUPERNET } from "./nodeNetwork.js"

/** The machine's nftables tables (`family name`), to delete the ones kube-proxy made. */
const nftTables = Host.run("nft", ["list", "tables"]).pipe(
  Effect.map((text) =>
    text.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("table ")).map((line) => line.slice(6))
  ),
  Effect.mapError(failedAt("nftables"))
)

/** What kube-proxy is started with. */
export interface KubeProxySetup {
  /** The node it runs beside, and that node's address (its NodePorts listen only there). */
  readonly name: string
  readonly address: string
  /** The node's folder (its configuration goes there) and log folder. */
  readonly folder: string
  readonly logFolder: string
  /** The admin kubeconfig of the control plane. */
  readonly kubeconfig: string
  readonly env: NodeJS.ProcessEnv
}

/**
 * Starts kube-proxy in the scope, ready once its rules are programmed; the nftables tables that were not
 * there before it started are deleted when the scope closes, after it has stopped.
 */
export const startKubeProxy = (setup: KubeProxySetup): Effect.Effect<void, NodeError, Scope.Scope> =>
  Effect.gen(function*() {
    const { env, folder, logFolder, name } = setup
    // Its nftables tables (`ip kube-proxy`, `ip6 kube-proxy`): deleted once it has stopped (its finalizer,
    // added after this one, runs first).
    const tablesBefore = yield* nftTables
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const now = yield* nftTables.pipe(Effect.orElseSucceed((): ReadonlyArray<string> => []))
        const added = now.filter((table) => !tablesBefore.includes(table))
        for (const table of added) yield* Host.attempt("nft", ["delete", "table", ...table.split(" ")])
        if (added.length > 0) yield* Effect.logInfo(`node ${name}: nftables tables deleted: ${added.join(", ")}`)
      })
    )
    const [proxyHealthz, proxyMetrics] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
    const proxyConfigFile = join(folder, "kube-proxy.json")
    writeFileSync(
      proxyConfigFile,
      kubeProxyConfig({
        name,
        address: setup.address,
        clusterCidr: POD_SUPERNET,
        kubeconfig: setup.kubeconfig,
        healthzPort: proxyHealthz,
        metricsPort: proxyMetrics
      })
    )
    yield* daemon("kube-proxy", Components.path("kube-proxy"), [`--config=${proxyConfigFile}`, "--v=1"], {
      logFolder,
      env,
      timeout: Duration.seconds(60),
      // 200 once its rules are programmed.
      ready: Effect.tryPromise(async () => {
        const response = await fetch(`http://127.0.0.1:${proxyHealthz}/healthz`)
        if (!response.ok) throw new Error(`kube-proxy /healthz ${response.status}`)
      })
    }).pipe(Effect.mapError(failedAt("kube-proxy")))
  })
