/**
 * Effect 3 against Effect 4, measured in one run on one machine: the last commit of this repository on
 * Effect 3 ({@link EFFECT3_COMMIT}), checked out in a git worktree of its own, and this tree, each bundled as
 * the image bundles the pod and run on this process's Node (24), side by side:
 * - `bundleKb`: the size of the bundle the image runs (`miroir.mjs`, without its source map);
 * - `idleRssMb`: the RSS of a pod at the chart's defaults (R = 15 s), median of one sample a second;
 * - `peakRssMb`: the high-water mark of the RSS (VmHWM) of a pod refreshing every second;
 * - `cpuSecondsPer1000Refreshes`: user + system CPU of that pod per 1,000 refreshes, one value per fifth of
 *   the window;
 * - `ownerOfOpsPerSec`: `Rendezvous.ownerOf` over 24 peers in a process of its own, built from each tree;
 * - `testWallSeconds` (not in quick mode: about half an hour): `pnpm test` in each tree, one after the other.
 *
 * Every pod runs with the heap the chart gives V8 (`--max-old-space-size=128`), against one unbound serving a
 * 100-record SRV answer (the four pods and 96 others, so every lookup takes the TCP retry), with the hints and
 * the audit off: the others exist only in DNS, at addresses nothing here may connect to, and the figures are
 * the discovery's and the runtime's. The four pods run at once, so both generations share the machine's load.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { metricSum } from "@miroir/process-kit/metricsText"
import { scopedPod } from "@miroir/process-kit/PodProcess"
import { startUnbound } from "@miroir/test-support/unbound"
import { Effect } from "effect"
import { CHART_HEAP, cpuSeconds, MB, peakRssBytes, rssBytes } from "./procStats.js"
import { type Figure, figure } from "./stats.js"

/** The last commit of this repository on Effect 3 (Node 24, Helm 4): main before the move to Effect 4. */
export const EFFECT3_COMMIT = "e1d8e40"

/** The two generations, in the order of the table. */
export const GENERATIONS = ["effect3", "effect4"] as const
export type Generation = (typeof GENERATIONS)[number]

/** What one generation measured. */
export interface GenerationFigures {
  /** The commit measured (this tree's HEAD, `+changes` when its working tree differs from it). */
  readonly source: string
  readonly bundleKb: number
  readonly idleRssMb: Figure
  readonly peakRssMb: number
  readonly cpuSecondsPer1000Refreshes: Figure
  readonly refreshes: number
  readonly ownerOfOpsPerSec: Figure
  readonly testWallSeconds?: number
}

/** The whole run. */
export interface GenerationRun {
  readonly windowSeconds: number
  readonly figures: Readonly<Record<Generation, GenerationFigures>>
}

const DOMAIN = "miroir-headless.default.svc.cluster.local."
const SRV_NAME = `_http._tcp.${DOMAIN}`
const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url))

/** Where the Effect 3 tree is kept between runs: its install takes a minute, its bundle seconds. */
const effect3Folder = join(homedir(), ".cache", "miroir-bench", `effect3-${EFFECT3_COMMIT}`)

/** Runs a command to its end; fails with its output. */
const exec = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.callback<string, Error>((resume) => {
    execFile(command, [...args], { cwd, maxBuffer: 64 * MB }, (error, stdout, stderr) =>
      resume(
        error === null
          ? Effect.succeed(stdout)
          : Effect.fail(new Error(`${command} ${args.join(" ")} in ${cwd} failed: ${error.message}\n${stderr}`))
      ))
  })

/** The Effect 3 tree: a detached git worktree at {@link EFFECT3_COMMIT} with its dependencies installed. */
const effect3Tree = Effect.gen(function*() {
  if (!existsSync(join(effect3Folder, "node_modules"))) {
    if (!existsSync(effect3Folder)) {
      mkdirSync(join(effect3Folder, ".."), { recursive: true })
      yield* exec("git", ["worktree", "add", "--detach", effect3Folder, EFFECT3_COMMIT], repositoryRoot)
    }
    // From pnpm's store when this machine installed that lockfile before; the registry otherwise, as an install does.
    yield* exec("pnpm", ["install", "--frozen-lockfile", "--prefer-offline"], effect3Folder)
  }
  return effect3Folder
})

/** Bundles a tree's pod service with that tree's own bundle script; returns the bundle's path. */
const bundleOf = (tree: string) =>
  Effect.as(exec("pnpm", ["--dir", "apps/miroir", "bundle"], tree), join(tree, "apps/miroir/dist/miroir.mjs"))

/**
 * `ownerOf` calls per second over 24 peers in a process of its own: a script importing the tree's
 * Rendezvous with that tree's dependencies. Seven trials of a second after a warm-up.
 */
const ownerOfOpsPerSec = (tree: string, folder: string) =>
  Effect.gen(function*() {
    const entry = join(folder, `ownerOf-${tree.replaceAll("/", "_")}.ts`)
    writeFileSync(
      entry,
      [
        `import { ownerOf } from ${JSON.stringify(join(tree, "packages/peer-discovery/src/Rendezvous.ts"))}`,
        "const peers = Object.freeze(Array.from({ length: 24 }, (_, i) => `10-244-${i % 7}-${(i * 37) % 251}`))",
        "const keys = Array.from({ length: 100_000 }, (_, i) => `task-${i}`)",
        "const trial = () => {",
        "  let calls = 0, sink = 0, elapsed = 0",
        "  const started = performance.now()",
        "  while (elapsed < 1_000) {",
        "    for (let i = 0; i < 10_000; i++) sink += ownerOf(keys[(calls + i) % keys.length], peers).length",
        "    calls += 10_000",
        "    elapsed = performance.now() - started",
        "  }",
        "  if (sink === 0) throw new Error('unreachable: keeps the loop from being optimised away')",
        "  return calls / (elapsed / 1_000)",
        "}",
        "trial()",
        "console.log(JSON.stringify(Array.from({ length: 7 }, trial)))"
      ].join("\n")
    )
    // Through the tree's own tsx (the library's dev dependency), so that its Effect is the one imported.
    const library = join(tree, "packages/peer-discovery")
    const output = yield* exec(process.execPath, ["--import", "tsx", "--conditions=@miroir/source", entry], library)
    const trials = JSON.parse(output) as Array<number>
    return figure(trials, "calls/s")
  })

/** The refreshes a pod has made so far (every lookup's result), from its /metrics. */
const refreshesOf = (metricsUrl: string) =>
  Effect.promise(async () => metricSum(await (await fetch(metricsUrl)).text(), "miroir_peer_discovery_lookups_total"))

/** The pods of one generation: one at the chart's defaults, one refreshing every second. */
interface Pods {
  readonly idle: { readonly pid: number }
  readonly busy: { readonly pid: number; readonly metricsUrl: string }
}

/** `pnpm test` in a tree, timed; the run fails if the tests do. */
const testWallSeconds = (tree: string) =>
  Effect.gen(function*() {
    const started = performance.now()
    yield* exec("pnpm", ["test"], tree)
    return Math.round((performance.now() - started) / 1_000)
  })

/**
 * Runs the comparison: a window of 10 minutes (600 refreshes of the busy pods) and `pnpm test` in each tree;
 * in quick mode a window of 1 minute and no tests.
 */
export const run = (quick: boolean): Effect.Effect<GenerationRun, Error> =>
  Effect.gen(function*() {
    const folder = join(tmpdir(), `miroir-bench-generation-${process.pid}`)
    mkdirSync(folder, { recursive: true })
    const trees: Record<Generation, string> = { effect3: yield* effect3Tree, effect4: repositoryRoot }
    const bundles = {
      effect3: yield* bundleOf(trees.effect3),
      effect4: yield* bundleOf(trees.effect4)
    }
    const ownerOf = {
      effect3: yield* ownerOfOpsPerSec(trees.effect3, folder),
      effect4: yield* ownerOfOpsPerSec(trees.effect4, folder)
    }
    const head = (yield* exec("git", ["rev-parse", "--short", "HEAD"], repositoryRoot)).trim()
    const changed =
      (yield* exec("git", ["status", "--porcelain", "--untracked-files=no"], repositoryRoot)).trim() !== ""
    const sources = { effect3: EFFECT3_COMMIT, effect4: changed ? `${head}+changes` : head }
    const { figures, windowSeconds } = yield* Effect.scoped(measurePods(bundles, ownerOf, sources, folder, quick))
    if (quick) return { windowSeconds, figures } satisfies GenerationRun
    return {
      windowSeconds,
      figures: {
        effect3: { ...figures.effect3, testWallSeconds: yield* testWallSeconds(trees.effect3) },
        effect4: { ...figures.effect4, testWallSeconds: yield* testWallSeconds(trees.effect4) }
      }
    } satisfies GenerationRun
  })

/** The four pods side by side, stopped when the scope closes. */
const measurePods = (
  bundles: Record<Generation, string>,
  ownerOf: Record<Generation, Figure>,
  sources: Record<Generation, string>,
  folder: string,
  quick: boolean
) =>
  Effect.gen(function*() {
    const podIps = { effect3: ["127.0.0.211", "127.0.0.212"], effect4: ["127.0.0.221", "127.0.0.222"] } as const
    const listed = [...podIps.effect3, ...podIps.effect4, ...Array.from({ length: 96 }, (_, i) => `10.0.0.${i + 1}`)]
    const dashed = (ip: string) => `${ip.replaceAll(".", "-")}.${DOMAIN}`
    const dns = yield* Effect.acquireRelease(
      Effect.promise(() =>
        startUnbound({
          records: listed.flatMap((ip) => [
            `${SRV_NAME} 30 IN SRV 0 1 7700 ${dashed(ip)}`,
            `${dashed(ip)} 30 IN A ${ip}`
          ])
        })
      ),
      (unbound) => Effect.promise(() => unbound.stop())
    )
    const podOf = (generation: Generation, ip: string, env: Record<string, string>) =>
      scopedPod({
        program: { bundle: bundles[generation] },
        name: `miroir-${generation}-${ip.split(".").pop()}`,
        ip,
        httpPort: 7700,
        metricsPort: 9090,
        adminPort: 7701,
        logFile: join(folder, `${generation}-${ip}.log`),
        env: {
          MIROIR_DNS_SERVERS: dns.server,
          MIROIR_CLUSTER_DOMAIN: "cluster.local",
          MIROIR_LOG_LEVEL: "error",
          MIROIR_PEER_HINTS: "off",
          MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off",
          NODE_OPTIONS: CHART_HEAP,
          ...env
        }
      }, { timeout: "60 seconds" })
    const pods = {} as Record<Generation, Pods>
    for (const generation of GENERATIONS) {
      const [idleIp, busyIp] = podIps[generation]
      const idle = yield* podOf(generation, idleIp, {})
      const busy = yield* podOf(generation, busyIp, { MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "1s" })
      pods[generation] = {
        idle: { pid: idle.process.child.pid! },
        busy: { pid: busy.process.child.pid!, metricsUrl: busy.metricsUrl }
      }
    }

    // Past the start: the first lookups, the JIT's warm-up, the first collections.
    yield* Effect.sleep("20 seconds")
    const windowSeconds = quick ? 60 : 600
    const idleRss: Record<Generation, Array<number>> = { effect3: [], effect4: [] }
    const marks: Record<Generation, Array<{ cpu: number; refreshes: number }>> = { effect3: [], effect4: [] }
    const mark = Effect.forEach(GENERATIONS, (generation) =>
      Effect.map(refreshesOf(pods[generation].busy.metricsUrl), (refreshes) =>
        void marks[generation].push({ cpu: cpuSeconds(pods[generation].busy.pid), refreshes })))
    yield* mark
    for (let second = 1; second <= windowSeconds; second++) {
      yield* Effect.sleep("1 second")
      for (const generation of GENERATIONS) {
        idleRss[generation].push(rssBytes(pods[generation].idle.pid) / MB)
      }
      // The busy pods' /metrics is read five times only: scraping costs the pod CPU too.
      if (second % (windowSeconds / 5) === 0) {
        yield* mark
      }
    }

    const figuresOf = (generation: Generation): GenerationFigures => {
      const fifths = marks[generation].slice(1).map((to, k) => {
        const from = marks[generation][k]!
        return ((to.cpu - from.cpu) / Math.max(1, to.refreshes - from.refreshes)) * 1_000
      })
      return {
        source: sources[generation],
        bundleKb: Math.round(statSync(bundles[generation]).size / 1024),
        idleRssMb: figure(idleRss[generation], "MB"),
        peakRssMb: peakRssBytes(pods[generation].busy.pid) / MB,
        cpuSecondsPer1000Refreshes: figure(fifths, "CPU s per 1,000 refreshes"),
        refreshes: marks[generation].at(-1)!.refreshes - marks[generation][0]!.refreshes,
        ownerOfOpsPerSec: ownerOf[generation]
      }
    }
    return { windowSeconds, figures: { effect3: figuresOf("effect3"), effect4: figuresOf("effect4") } }
  })
