/**
 * Ownership throughput: `Rendezvous.ownerOf` calls per second over 8, 24 and 100 peers, against a
 * naive baseline in the same run (one native xxhash64 call per peer per key, @node-rs/xxhash).
 * Each figure is the median of several timed trials; the spread (min–max) is printed beside it.
 *
 *   pnpm --filter @miroir/peer-discovery bench          (or `pnpm bench` at the root)
 *   ... bench -- --quick                                 fewer, shorter trials
 */
import { cpus } from "node:os"
import { xxh64 } from "@node-rs/xxhash"
import { ownerOf } from "../src/Rendezvous.js"

const quick = process.argv.includes("--quick")
const TRIALS = quick ? 3 : 7
const TRIAL_MS = quick ? 300 : 1_000
const PEER_COUNTS = [8, 24, 100] as const
const KEYS = Array.from({ length: 100_000 }, (_, i) => `task-${i}`)

/** Dashed pod IPs of a Deployment, of mixed lengths as in a real cluster. */
const peersOf = (n: number) => Array.from({ length: n }, (_, i) => `10-244-${i % 7}-${(i * 37) % 251}`)

/** The baseline: one native call per peer, highest score, ties to the smallest id. */
const naiveOwnerOf = (key: string, peers: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestScore = -1n
  for (const peer of peers) {
    const score = xxh64(`${key}||${peer}`)
    if (score > bestScore || (score === bestScore && best !== undefined && peer < best)) {
      best = peer
      bestScore = score
    }
  }
  return best
}

/** Calls per second of `owner` in one trial of about TRIAL_MS. */
const trial = (owner: (key: string, peers: ReadonlyArray<string>) => string | undefined, peers: ReadonlyArray<string>) => {
  let calls = 0
  let sink = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < TRIAL_MS) {
    for (let i = 0; i < 10_000; i++) sink += owner(KEYS[(calls + i) % KEYS.length]!, peers)!.length
    calls += 10_000
    elapsed = performance.now() - started
  }
  if (sink === 0) throw new Error("unreachable: keeps the loop from being optimised away")
  return calls / (elapsed / 1_000)
}

/** Median and spread of TRIALS trials, after one warm-up trial. */
const measure = (owner: Parameters<typeof trial>[0], peers: ReadonlyArray<string>) => {
  trial(owner, peers)
  const rates = Array.from({ length: TRIALS }, () => trial(owner, peers)).sort((a, b) => a - b)
  return { median: rates[Math.floor(rates.length / 2)]!, min: rates[0]!, max: rates[rates.length - 1]!, trials: TRIALS }
}

/** One row per peer count. */
export interface OwnershipFigures {
  readonly peers: number
  readonly opsPerSec: ReturnType<typeof measure>
  readonly baselineOpsPerSec: ReturnType<typeof measure>
}

/** Runs the benchmark; also checks that both implementations agree before timing them. */
export const measureOwnership = (): ReadonlyArray<OwnershipFigures> =>
  PEER_COUNTS.map((n) => {
    const peers = peersOf(n)
    for (const key of KEYS.slice(0, 2_000)) {
      if (ownerOf(key, peers) !== naiveOwnerOf(key, peers)) throw new Error(`implementations disagree on ${key}`)
    }
    return { peers: n, opsPerSec: measure(ownerOf, peers), baselineOpsPerSec: measure(naiveOwnerOf, peers) }
  })

const format = (rate: number) => `${(rate / 1e6).toFixed(2)} M/s`

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`ownerOf throughput — ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, ${TRIALS} trials of ${TRIAL_MS} ms`)
  const rows = measureOwnership()
  console.table(rows.map((row) => ({
    peers: row.peers,
    "ownerOf (median)": format(row.opsPerSec.median),
    "ownerOf (min–max)": `${format(row.opsPerSec.min)} – ${format(row.opsPerSec.max)}`,
    "baseline (median)": format(row.baselineOpsPerSec.median),
    speed_up: `${(row.opsPerSec.median / row.baselineOpsPerSec.median).toFixed(1)}×`,
    target: row.peers === 24
      ? row.opsPerSec.median >= 1_500_000 && row.opsPerSec.median >= 10 * row.baselineOpsPerSec.median ? "met" : "MISSED"
      : "—"
  })))
}
