/**
 * The DNS lookups peer discovery needs, as a service: SRV records of a name, and its A and AAAA
 * records. `layer` is our own DNS client (UDP with EDNS0, TCP when truncated) owned by the layer;
 * `layerTest` an in-memory table that tests script through {@link DnsResolverTest}.
 */
import { getServers } from "node:dns"
import { Context, Duration, Effect, Layer, Metric, Result, type Scope } from "effect"
import { DnsLookupError } from "./DnsLookupError.js"
import * as DnsClient from "./internal/dnsClient.js"
import { fullyQualified } from "./internal/dnsName.js"
import * as Parse from "./internal/parse.js"
import { parseServer, type Server } from "./internal/dnsTransport.js"
import type { Service } from "./internal/resolverContract.js"
import { makeTestResolver, type TestControl } from "./internal/testResolver.js"
import * as Metrics from "./Metrics.js"
import { PeerDiscoveryConfig } from "./PeerDiscoveryConfig.js"

export type { Service, SrvRecord } from "./internal/resolverContract.js"
export type { TestControl } from "./internal/testResolver.js"

/** The resolver as a service. */
export class DnsResolver extends Context.Service<DnsResolver, Service>()("@miroir/peer-discovery/DnsResolver") {}

/** Options of the DNS client. */
export interface Options {
  /** Servers in node:dns form (`ip`, `ip:port`, `[ipv6]:port`), tried in order; empty for the system's (`dns.getServers()`). */
  readonly servers: ReadonlyArray<string>
  /** How long one lookup may take in all, over every server. */
  readonly timeout: Duration.Input
}

/**
 * A resolver over our own DNS client. Each lookup asks the servers in order — UDP with EDNS0 (1232
 * bytes), TCP when the reply is truncated — with one socket per exchange and a random id; replies with
 * another id or question are ignored. The timeout bounds the whole lookup, kept by the exchanges' own
 * timers against one deadline, each server getting an even share of what is left; a lost packet becomes
 * a timeout, which discovery's backoff retries. (Under PeerDiscovery, whose own bound of the same length
 * is the one that counts for any resolver, these timers share the time among the servers and end the sockets.) Sockets are closed when a lookup ends, is
 * interrupted, or when the scope closes. Answers are classified as node:dns did (`nxdomain`, `nodata`,
 * `servfail`, `refused`, `timeout`, `error`), plus `truncated`: an answer still truncated over TCP, or cut
 * short, is a failure and never a smaller set. Records of another owner name are dropped and counted.
 */
export const make = (options: Options): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timeout = Duration.fromInputUnsafe(options.timeout)
    const configured = options.servers.length > 0 ? options.servers : getServers()
    const servers = configured.map(parseServer).filter((server): server is Server => server !== undefined)
    const ask = yield* DnsClient.make(servers, timeout)

    /** The records of one question; none is `nodata`, and records of another owner are counted. */
    const records = (name: string, type: "SRV" | "A" | "AAAA") =>
      ask({ name, type }).pipe(
        Effect.tap((answer) =>
          answer.otherOwner > 0
            ? Metric.update(Metrics.ignoredRecordsWithReason("other_owner"), answer.otherOwner)
            : Effect.void
        ),
        Effect.flatMap((answer) =>
          answer.records.length === 0
            ? Effect.fail(new DnsLookupError({ outcome: "nodata", name, rrtype: type, code: "NOERROR" }))
            : Effect.succeed(answer)
        )
      )

    const resolveSrv = (name: string) => {
      const fqdn = fullyQualified(name)
      return Effect.map(records(fqdn, "SRV"), (answer) => {
        const addresses = extraAddressesByName(answer.extraAddresses)
        return answer.records.flatMap((record) =>
          record.type === "SRV"
            ? [{
              name: record.data.target,
              port: record.data.port,
              priority: record.data.priority ?? 0,
              weight: record.data.weight ?? 0,
              addresses: addresses.get(fullyQualified(record.data.target)) ?? []
            }]
            : []
        )
      })
    }

    const resolveAddresses = (name: string) => {
      const fqdn = fullyQualified(name)
      const lookup = (rrtype: "A" | "AAAA") =>
        Effect.map(records(fqdn, rrtype), (answer) =>
          answer.records.flatMap((record) => (record.type === "A" || record.type === "AAAA" ? [record.data] : [])))
          .pipe(
            Effect.result
          )
      return Effect.all([lookup("A"), lookup("AAAA")], { concurrency: 2 }).pipe(
        Effect.flatMap(([v4, v6]) =>
          combineAddresses(fqdn, v4, v6)
        )
      )
    }
    return { resolveSrv, resolveAddresses }
  })

/** The addresses of an additional section, by owner name (fully qualified, lower case). */
const extraAddressesByName = (
  records: ReadonlyArray<{ readonly type: string; readonly name: string; readonly data?: unknown }>
): ReadonlyMap<string, ReadonlyArray<string>> => {
  const byName = new Map<string, Array<string>>()
  for (const record of records) {
    if ((record.type !== "A" && record.type !== "AAAA") || typeof record.data !== "string") continue
    const name = fullyQualified(record.name)
    const address = Result.getOrElse(Parse.ipAddress(record.data), () => record.data as string)
    byName.set(name, [...(byName.get(name) ?? []), address])
  }
  return byName
}

/** Merges the A and AAAA results of one name as {@link Service.resolveAddresses} documents. */
export const combineAddresses = (
  name: string,
  ...results: ReadonlyArray<Result.Result<ReadonlyArray<string>, DnsLookupError>>
): Effect.Effect<ReadonlyArray<string>, DnsLookupError> => {
  const failure = results.find((r) => Result.isFailure(r) && !r.failure.isAnswer)
  if (failure !== undefined && Result.isFailure(failure)) return Effect.fail(failure.failure)
  const addresses = results.flatMap((r) => (Result.isSuccess(r) ? r.success : []))
  if (addresses.length > 0) return Effect.succeed(addresses)
  const everyNxdomain = results.every((r) => Result.isFailure(r) && r.failure.outcome === "nxdomain")
  return Effect.fail(new DnsLookupError({ outcome: everyNxdomain ? "nxdomain" : "nodata", name, rrtype: "A/AAAA" }))
}

/** The DNS client with the servers and lookup timeout of the {@link PeerDiscoveryConfig}. */
export const layer: Layer.Layer<DnsResolver, never, PeerDiscoveryConfig> = Layer.effect(
  DnsResolver,
  Effect.flatMap(PeerDiscoveryConfig, (config) => make({ servers: config.dnsServers, timeout: config.lookupTimeout }))
)

/** The test resolver's control, provided by {@link layerTest}. */
export class DnsResolverTest extends Context.Service<DnsResolverTest, TestControl>()(
  "@miroir/peer-discovery/DnsResolverTest"
) {}

/** An in-memory resolver, empty at start (every name NXDOMAIN), with its {@link DnsResolverTest} control. */
export const layerTest: Layer.Layer<DnsResolver | DnsResolverTest> = Layer.effectContext(
  Effect.sync(() => {
    const { resolver, control } = makeTestResolver()
    return Context.make(DnsResolver, resolver).pipe(Context.add(DnsResolverTest, control))
  })
)
