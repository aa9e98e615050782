/** The lookup that lists the peers, and what one such lookup found. */
import { Effect, Option } from "effect"
import { DnsLookupError } from "../DnsLookupError.js"
import type { DnsResolver } from "../DnsResolver.js"
import type { Settings } from "../PeerDiscoveryConfig.js"
import * as PeerId from "../PeerId.js"
import type { Listed } from "./answerPolicy.js"

/**
 * What one lookup found: the listed ids, the addresses the answer gave for them, the targets that were not
 * the Service's, and SRV records with port 0.
 */
export interface Listing extends Listed {
  readonly foreign: ReadonlyArray<string>
  readonly portZero: number
}

/** The lookup of the peers, and the name it asks for (for logs and spans). */
export interface PeerLookup {
  readonly name: string
  readonly lookup: Effect.Effect<Listing, DnsLookupError>
}

/**
 * The lookup that lists the peers, as the settings ask for (SRV of the port, or A/AAAA of the Service).
 * Suspended, so that a resolver that does its work when called still looks up anew every time.
 *
 * Bounded here by the lookup timeout, and this is the bound that counts: it holds for any resolver and
 * runs on the fiber's clock (so `TestClock` moves it). `DnsResolver.layer` is given the same duration
 * only to share it among its servers and to end its sockets' timers; when it says `timeout` first, its
 * error (which names the server) is the one kept.
 */
export const listPeers = (settings: Settings, resolver: DnsResolver["Service"]): PeerLookup => {
  const domain = PeerId.serviceDomain(settings)
  const bounded = <A>(name: string, rrtype: DnsLookupError["rrtype"], lookup: () => Effect.Effect<A, DnsLookupError>) =>
    Effect.suspend(lookup).pipe(
      Effect.timeoutOrElse({
        duration: settings.lookupTimeout,
        orElse: () => Effect.fail(new DnsLookupError({ outcome: "timeout", name, rrtype }))
      })
    )
  if (settings.record === "a") {
    return {
      name: domain,
      lookup: Effect.map(bounded(domain, "A/AAAA", () => resolver.resolveAddresses(domain)), (addresses) => ({
        ids: addresses.map(PeerId.fromIp),
        addresses: new Map(),
        foreign: [],
        portZero: 0
      }))
    }
  }
  const name = PeerId.srvName(settings)
  return {
    name,
    lookup: Effect.map(bounded(name, "SRV", () => resolver.resolveSrv(name)), (records) => {
      const ids: Array<PeerId.PeerId> = []
      const addresses = new Map<PeerId.PeerId, ReadonlyArray<string>>()
      const foreign: Array<string> = []
      let portZero = 0
      for (const record of records) {
        // RFC 2782: port 0 means the service is not offered there; such a record is no peer.
        if (record.port === 0) {
          portZero += 1
          continue
        }
        Option.match(PeerId.fromTarget(record.name, domain), {
          onNone: () => foreign.push(record.name),
          onSome: (id) => {
            ids.push(id)
            if (record.addresses.length > 0) addresses.set(id, record.addresses)
          }
        })
      }
      return { ids, addresses, foreign, portZero }
    })
  }
}
