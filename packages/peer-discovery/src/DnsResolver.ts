/**
 * The DNS lookups peer discovery needs, as a service: SRV records of a name, and its A and AAAA
 * records. `layer` is backed by one node:dns `Resolver` owned by the layer; `layerTest` by an
 * in-memory table that tests script through {@link DnsResolverTest}.
 */
import { Resolver } from "node:dns"
import { Context, Duration, Effect, type Either, Layer, type Scope } from "effect"
import { DnsLookupError } from "./DnsLookupError.js"
import { fullyQualified } from "./internal/dnsName.js"
import { query } from "./internal/nodeResolver.js"
import { makeTestResolver } from "./internal/testResolver.js"
import { PeerDiscoveryConfig } from "./PeerDiscoveryConfig.js"

/** One SRV record as node:dns returns it. */
export interface SrvRecord {
  /** The target host name (`10-244-1-5.miroir-headless.default.svc.cluster.local`). */
  readonly name: string
  readonly port: number
  readonly priority: number
  readonly weight: number
}

/** The lookups. Names are queried fully-qualified: a missing trailing dot is added. */
export interface Service {
  /** The SRV records of `name`. */
  readonly resolveSrv: (name: string) => Effect.Effect<ReadonlyArray<SrvRecord>, DnsLookupError>
  /**
   * The A and AAAA records of `name`, together. Fails with `nxdomain` when neither type exists,
   * `nodata` when both are empty, and with the failure when either lookup failed: a half answer
   * would look like a smaller set of peers.
   */
  readonly resolveAddresses: (name: string) => Effect.Effect<ReadonlyArray<string>, DnsLookupError>
}

/** The resolver as a service. */
export class DnsResolver extends Context.Tag("@miroir/peer-discovery/DnsResolver")<DnsResolver, Service>() {}

/** Options of the node:dns resolver. */
export interface Options {
  /** `host:port` servers in node:dns form; empty for the system's. */
  readonly servers: ReadonlyArray<string>
  /** How long one lookup may take in all. */
  readonly timeout: Duration.DurationInput
}

/**
 * A resolver over one node:dns `Resolver`: one try per server with the lookup timeout, and the timeout
 * enforced as a hard bound (c-ares's own retries stretch it several times over, measured: 100 ms and 2
 * tries took 690 ms). A lost packet becomes a timeout, which discovery's backoff retries. Pending
 * queries are cancelled when a lookup is interrupted and when the scope closes.
 */
export const make = (options: Options): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timeout = Duration.decode(options.timeout)
    const resolver = new Resolver({ timeout: Math.max(1, Math.round(Duration.toMillis(timeout))), tries: 1 })
    if (options.servers.length > 0) resolver.setServers([...options.servers])
    yield* Effect.addFinalizer(() => Effect.sync(() => resolver.cancel()))

    /** c-ares stretches its timeout (400 ms took 800 here): the budget is enforced on top. */
    const withinBudget = <A>(name: string, rrtype: DnsLookupError["rrtype"], lookup: Effect.Effect<A, DnsLookupError>) =>
      Effect.timeoutFail(lookup, {
        duration: timeout,
        onTimeout: () => new DnsLookupError({ outcome: "timeout", name, rrtype })
      })

    const resolveSrv = (name: string) => {
      const fqdn = fullyQualified(name)
      return withinBudget(fqdn, "SRV", query<ReadonlyArray<SrvRecord>>(resolver, fqdn, "SRV", (r, n, cb) => r.resolveSrv(n, cb)))
    }

    const resolveAddresses = (name: string) => {
      const fqdn = fullyQualified(name)
      const lookup = (rrtype: "A" | "AAAA") =>
        query<ReadonlyArray<string>>(resolver, fqdn, rrtype, (r, n, cb) =>
          rrtype === "A" ? r.resolve4(n, cb) : r.resolve6(n, cb)
        ).pipe(Effect.either)
      return withinBudget(
        fqdn,
        "A/AAAA",
        Effect.all([lookup("A"), lookup("AAAA")], { concurrency: 2 }).pipe(
          Effect.flatMap(([v4, v6]) => combineAddresses(fqdn, v4, v6))
        )
      )
    }
    return { resolveSrv, resolveAddresses }
  })

/** Merges the A and AAAA results of one name as {@link Service.resolveAddresses} documents. */
export const combineAddresses = (
  name: string,
  ...results: ReadonlyArray<Either.Either<ReadonlyArray<string>, DnsLookupError>>
): Effect.Effect<ReadonlyArray<string>, DnsLookupError> => {
  const failure = results.find((r) => r._tag === "Left" && !r.left.isAnswer)
  if (failure?._tag === "Left") return Effect.fail(failure.left)
  const addresses = results.flatMap((r) => (r._tag === "Right" ? r.right : []))
  if (addresses.length > 0) return Effect.succeed(addresses)
  const everyNxdomain = results.every((r) => r._tag === "Left" && r.left.outcome === "nxdomain")
  return Effect.fail(new DnsLookupError({ outcome: everyNxdomain ? "nxdomain" : "nodata", name, rrtype: "A/AAAA" }))
}

/** The node:dns resolver with the servers and lookup timeout of the {@link PeerDiscoveryConfig}. */
export const layer: Layer.Layer<DnsResolver, never, PeerDiscoveryConfig> = Layer.scoped(
  DnsResolver,
  Effect.flatMap(PeerDiscoveryConfig, (config) =>
    make({ servers: config.dnsServers, timeout: config.lookupTimeout })
  )
)

/** Scripting and inspection of the in-memory resolver of {@link layerTest}. */
export interface TestControl {
  /** Publishes `records` as the SRV records of `name` (an empty list: the name exists, no data). */
  readonly setSrv: (name: string, records: ReadonlyArray<SrvRecord>) => Effect.Effect<void>
  /** Publishes `addresses` (IPv4 and IPv6 mixed) as the A/AAAA records of `name`. */
  readonly setAddresses: (name: string, addresses: ReadonlyArray<string>) => Effect.Effect<void>
  /** Removes `name`: its lookups answer NXDOMAIN. */
  readonly remove: (name: string) => Effect.Effect<void>
  /** Makes every lookup of `name` fail with `outcome` until {@link heal} (records are kept). */
  readonly fail: (name: string, outcome: DnsLookupError["outcome"]) => Effect.Effect<void>
  /** Ends a {@link fail}. */
  readonly heal: (name: string) => Effect.Effect<void>
  /** Delays every answer by `latency` (on the fiber's clock, so `TestClock` moves it). */
  readonly setLatency: (latency: Duration.DurationInput) => Effect.Effect<void>
  /** How many lookups were started, in all or of `name`. */
  readonly lookups: (name?: string) => Effect.Effect<number>
  /** The most lookups ever in flight at once. */
  readonly maxInFlight: Effect.Effect<number>
}

/** The test resolver's control, provided by {@link layerTest}. */
export class DnsResolverTest extends Context.Tag("@miroir/peer-discovery/DnsResolverTest")<
  DnsResolverTest,
  TestControl
>() {}

/** An in-memory resolver, empty at start (every name NXDOMAIN), with its {@link DnsResolverTest} control. */
export const layerTest: Layer.Layer<DnsResolver | DnsResolverTest> = Layer.effectContext(
  Effect.sync(() => {
    const { resolver, control } = makeTestResolver()
    return Context.make(DnsResolver, resolver).pipe(Context.add(DnsResolverTest, control))
  })
)
