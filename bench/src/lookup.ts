/**
 * Lookup cost through `DnsResolver.layer` (our DNS client: UDP with EDNS0, TCP when truncated) against
 * unbound and against the simulator's DNS, for answers of 10, 15, 100, 500 and 1,000 SRV records: p50 and
 * p99 latency, and the largest answer that still arrives whole, with what happens past it. Against
 * unbound the same lookups also go through node:dns (c-ares: no EDNS, so every answer over 512 bytes is
 * truncated over UDP and asked again over TCP), the resolver before ours, as the baseline of the same run.
 * Target: 1,000 records under 25 ms p50.
 */
import { Resolver } from "node:dns"
import * as ClusterDns from "@miroir/cluster-sim/simulator/ClusterDns"
import { defaultService, serviceDomain, srvName } from "@miroir/cluster-sim/simulator/DnsAnswers"
import { DnsLookupError, DnsResolver, PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { startUnbound } from "@miroir/test-support/unbound"
import { Duration, Effect, Layer, Result } from "effect"
import { quantile } from "./stats.js"

/** The answer sizes measured. */
export const sizes = [10, 15, 100, 500, 1000] as const

/** The servers measured; `nodeDns` is unbound asked through node:dns instead of our client. */
export type Server = "unbound" | "simulator" | "nodeDns"

/** Latencies of one server at one size; `whole` false when the answer did not arrive complete. */
export interface LookupRun {
  readonly server: Server
  readonly records: number
  readonly latenciesMs: ReadonlyArray<number>
  readonly received: number
  readonly outcome: string
}

/** The largest answer a server delivers whole, and what a larger one gives. */
export interface Limit {
  readonly server: Server
  readonly largestWhole: number
  readonly past: string
}

const SRV = `${srvName(defaultService)}.`
const DOMAIN = `${serviceDomain(defaultService)}.`
const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 1}`

const resolverFor = (server: string) =>
  DnsResolver.DnsResolver.pipe(Effect.provide(DnsResolver.layer.pipe(
    Layer.provide(PeerDiscoveryConfig.layerTest({ dnsServers: [server], lookupTimeout: Duration.seconds(2) }))
  )))

/** node:dns as DnsResolver.layer used it before our client (one Resolver, one try): the baseline. */
const nodeDnsFor = (server: string): DnsResolver.Service => {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 })
  resolver.setServers([server])
  return {
    resolveSrv: (name) =>
      Effect.callback((resume) => {
        resolver.resolveSrv(name, (error, records) =>
          resume(
            // node:dns does not expose the additional section: no addresses.
            error === null ? Effect.succeed(records.map((record) => ({ ...record, addresses: [] }))) : Effect.fail(
              new DnsLookupError.DnsLookupError({
                outcome: error.code === "ENODATA" ? "nodata" : error.code === "ENOTFOUND" ? "nxdomain" : "error",
                name,
                rrtype: "SRV",
                code: error.code
              })
            )
          ))
      }),
    resolveAddresses: () => Effect.die("not measured")
  }
}

/** `lookups` timed lookups of `name` (after two warm-up ones). */
const time = (resolver: DnsResolver.Service, name: string, lookups: number) =>
  Effect.map(timeInterleaved([resolver], name, lookups), ([result]) => result!)

/**
 * `lookups` timed lookups of `name` through each resolver, taking turns lookup by lookup, so that a
 * comparison is not skewed by a busy moment of the machine falling on one of them (after two warm-up ones each).
 */
const timeInterleaved = (resolvers: ReadonlyArray<DnsResolver.Service>, name: string, lookups: number) =>
  Effect.gen(function*() {
    for (const resolver of resolvers) {
      yield* Effect.result(resolver.resolveSrv(name))
      yield* Effect.result(resolver.resolveSrv(name))
    }
    const latencies = resolvers.map(() => [] as Array<number>)
    const last: Array<Result.Result<ReadonlyArray<DnsResolver.SrvRecord>, { outcome: string }>> = resolvers.map(() =>
      Result.succeed([])
    )
    for (let i = 0; i < lookups; i++) {
      for (const [r, resolver] of resolvers.entries()) {
        const started = performance.now()
        last[r] = yield* Effect.result(resolver.resolveSrv(name))
        latencies[r]!.push(performance.now() - started)
      }
    }
    return resolvers.map((_, r) => ({
      latenciesMs: latencies[r]!,
      received: Result.match(last[r]!, { onFailure: () => 0, onSuccess: (records) => records.length }),
      outcome: Result.match(last[r]!, { onFailure: (error) => error.outcome, onSuccess: () => "ok" })
    }))
  })

/** An unbound serving `n` SRV records at the Service's SRV name. */
const unboundWith = (n: number) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      startUnbound({
        records: Array.from({ length: n }, (_, i) => `${SRV} 5 IN SRV 0 1 7700 ${ip(i).replaceAll(".", "-")}.${DOMAIN}`)
      })
    ),
    (server) => Effect.promise(server.stop)
  )

/** Bisects the largest n in [low, high) for which `whole(n)` holds; `past` describes n + 1. */
const bisect = (low: number, high: number, whole: (n: number) => Effect.Effect<{ ok: boolean; what: string }, never>) =>
  Effect.gen(function*() {
    let [good, bad] = [low, high]
    let past = "whole up to the top of the search"
    while (bad - good > 1) {
      const middle = Math.floor((good + bad) / 2)
      const result = yield* whole(middle)
      if (result.ok) good = middle
      else [bad, past] = [middle, result.what]
    }
    return { largestWhole: good, past }
  })

const describe = (result: { received: number; outcome: string }, n: number) =>
  result.outcome === "ok" ? `${result.received} of ${n} records arrive` : `the lookup fails: ${result.outcome}`

/** Runs the benchmark: 100 lookups per size (20 in quick mode), and the size limit of each server. */
export const run = (quick: boolean): Effect.Effect<{ runs: ReadonlyArray<LookupRun>; limits: ReadonlyArray<Limit> }> =>
  Effect.gen(function*() {
    const lookups = quick ? 20 : 100
    const runs: Array<LookupRun> = []
    for (const records of sizes) {
      const [fromUnbound, throughNodeDns] = yield* Effect.scoped(
        Effect.flatMap(
          unboundWith(records),
          (server) =>
            Effect.flatMap(
              resolverFor(server.server),
              (resolver) =>
                Effect.map(timeInterleaved([resolver, nodeDnsFor(server.server)], SRV, lookups), ([ours, nodeDns]) =>
                  [ours!, nodeDns!] as const)
            )
        )
      )
      runs.push({ server: "unbound", records, ...fromUnbound }, { server: "nodeDns", records, ...throughNodeDns })
    }
    const simulator = yield* Effect.scoped(Effect.gen(function*() {
      const dns = yield* Effect.orDie(ClusterDns.make())
      const resolver = yield* resolverFor(dns.server)
      const simulatorRuns: Array<LookupRun> = []
      for (const records of sizes) {
        dns.setEndpoints(Array.from({ length: records }, (_, i) => ({ ip: ip(i) })))
        simulatorRuns.push({ server: "simulator", records, ...(yield* time(resolver, SRV, lookups)) })
      }
      const limit = yield* bisect(1, 4_000, (n) =>
        Effect.gen(function*() {
          dns.setEndpoints(Array.from({ length: n }, (_, i) => ({ ip: ip(i) })))
          const result = yield* time(resolver, SRV, 1)
          return { ok: result.outcome === "ok" && result.received === n, what: describe(result, n) }
        }))
      return { runs: simulatorRuns, limit: { server: "simulator" as const, ...limit } }
    }))
    runs.push(...simulator.runs)
    const unboundLimit = yield* bisect(1, 4_000, (n) =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* unboundWith(n)
        const result = yield* time(yield* resolverFor(server.server), SRV, 1)
        return { ok: result.outcome === "ok" && result.received === n, what: describe(result, n) }
      })))
    return { runs, limits: [{ server: "unbound" as const, ...unboundLimit }, simulator.limit] }
  })

/** p50 and p99 of a run. */
export const summarize = (run: LookupRun) => ({
  p50: quantile(run.latenciesMs, 0.5),
  p99: quantile(run.latenciesMs, 0.99)
})
