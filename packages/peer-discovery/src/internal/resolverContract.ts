/**
 * What a resolver answers, apart from the DnsResolver service that carries it: its lookups and the SRV
 * record they give. Both the DNS client and the in-memory test resolver implement it, so it sits below
 * them (DnsResolver re-exports it), and neither imports the other for it.
 */
import type { Effect } from "effect"
import type { DnsLookupError } from "../DnsLookupError.js"

/** One SRV record (the fields node:dns gave, which the service keeps). */
export interface SrvRecord {
  /** The target host name (`10-244-1-5.miroir-headless.default.svc.cluster.local`). */
  readonly name: string
  readonly port: number
  readonly priority: number
  readonly weight: number
  /**
   * The target's addresses, from the answer's additional section (CoreDNS sends the A/AAAA records of a
   * headless Service's targets there), canonical IPv6; empty when the server sent none for it, or left
   * them out of a large answer.
   */
  readonly addresses: ReadonlyArray<string>
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
