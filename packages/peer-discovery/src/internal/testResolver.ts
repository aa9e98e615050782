/** The in-memory resolver behind DnsResolver.layerTest. */
import { Duration, Effect } from "effect"
import { DnsLookupError, type DnsOutcome } from "../DnsLookupError.js"
import type { Service, SrvRecord } from "./resolverContract.js"
import { fullyQualified } from "./dnsName.js"

interface Entry {
  readonly srv?: ReadonlyArray<Omit<SrvRecord, "addresses"> & Partial<Pick<SrvRecord, "addresses">>>
  readonly addresses?: ReadonlyArray<string>
}

/** Scripting and inspection of the in-memory resolver of `DnsResolver.layerTest`. */
export interface TestControl {
  /**
   * Publishes `records` as the SRV records of `name` (an empty list: the name exists, no data). A record's
   * `addresses` default to the A/AAAA records of its target in the table at lookup time, as a server puts
   * them in the additional section.
   */
  readonly setSrv: (
    name: string,
    records: ReadonlyArray<Omit<SrvRecord, "addresses"> & Partial<Pick<SrvRecord, "addresses">>>
  ) => Effect.Effect<void>
  /** Publishes `addresses` (IPv4 and IPv6 mixed) as the A/AAAA records of `name`. */
  readonly setAddresses: (name: string, addresses: ReadonlyArray<string>) => Effect.Effect<void>
  /** Removes `name`: its lookups answer NXDOMAIN. */
  readonly remove: (name: string) => Effect.Effect<void>
  /** Makes every lookup of `name` fail with `outcome` until `heal` (records are kept). */
  readonly fail: (name: string, outcome: DnsLookupError["outcome"]) => Effect.Effect<void>
  /** Ends a `fail`. */
  readonly heal: (name: string) => Effect.Effect<void>
  /** Delays every answer by `latency` (on the fiber's clock, so `TestClock` moves it). */
  readonly setLatency: (latency: Duration.Input) => Effect.Effect<void>
  /** How many lookups were started, in all or of `name`. */
  readonly lookups: (name?: string) => Effect.Effect<number>
  /** The most lookups ever in flight at once. */
  readonly maxInFlight: Effect.Effect<number>
}

/** A resolver over a mutable table of names, and the control that scripts it. */
export const makeTestResolver = (): { readonly resolver: Service; readonly control: TestControl } => {
  const entries = new Map<string, Entry>()
  const failures = new Map<string, DnsOutcome>()
  const lookupsByName = new Map<string, number>()
  let latency = Duration.zero
  let inFlight = 0
  let maxInFlight = 0

  const update = (name: string, change: (entry: Entry) => Entry | undefined) =>
    Effect.sync(() => {
      const key = fullyQualified(name)
      const next = change(entries.get(key) ?? {})
      if (next === undefined) entries.delete(key)
      else entries.set(key, next)
    })

  const lookup = <A>(name: string, rrtype: DnsLookupError["rrtype"], pick: (entry: Entry) => A | undefined) => {
    const key = fullyQualified(name)
    const started = Effect.sync(() => {
      lookupsByName.set(key, (lookupsByName.get(key) ?? 0) + 1)
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
    })
    const answer = Effect.suspend(() => {
      const entry = entries.get(key)
      const failure = failures.get(key)
      const fail = (outcome: DnsOutcome) => Effect.fail(new DnsLookupError({ outcome, name: key, rrtype }))
      if (failure !== undefined) return fail(failure)
      if (entry === undefined) return fail("nxdomain")
      const records = pick(entry)
      return records === undefined ? fail("nodata") : Effect.succeed(records)
    })
    return started.pipe(
      Effect.andThen(Effect.suspend(() => Effect.sleep(latency))),
      Effect.andThen(answer),
      Effect.ensuring(Effect.sync(() => (inFlight -= 1)))
    )
  }

  const nonEmpty = <A>(records: ReadonlyArray<A> | undefined) =>
    records === undefined || records.length === 0 ? undefined : records

  const resolver: Service = {
    resolveSrv: (name) =>
      lookup(name, "SRV", (entry) =>
        nonEmpty(
          entry.srv?.map((record) => ({
            ...record,
            addresses: record.addresses ?? entries.get(fullyQualified(record.name))?.addresses ?? []
          }))
        )),
    resolveAddresses: (name) => lookup(name, "A/AAAA", (entry) => nonEmpty(entry.addresses))
  }

  const control: TestControl = {
    setSrv: (name, records) => update(name, (entry) => ({ ...entry, srv: [...records] })),
    setAddresses: (name, addresses) => update(name, (entry) => ({ ...entry, addresses: [...addresses] })),
    remove: (name) => update(name, () => undefined),
    fail: (name, outcome) => Effect.sync(() => void failures.set(fullyQualified(name), outcome)),
    heal: (name) => Effect.sync(() => void failures.delete(fullyQualified(name))),
    setLatency: (next) => Effect.sync(() => (latency = Duration.fromInputUnsafe(next))),
    lookups: (name) =>
      Effect.sync(() =>
        name === undefined
          ? [...lookupsByName.values()].reduce((sum, count) => sum + count, 0)
          : lookupsByName.get(fullyQualified(name)) ?? 0
      ),
    maxInFlight: Effect.sync(() => maxInFlight)
  }
  return { resolver, control }
}
