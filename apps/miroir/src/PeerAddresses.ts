/**
 * Where a peer is reached, and whether a connection comes from one: the one home of "peer id ↔ address",
 * for the requests this pod sends its peers (PeerMessaging: the ownership audit, the refresh hints) and for
 * the hints it takes (the HTTP API's `POST /hints`) and the pings it is sent (`GET /ping`: PingsReceived).
 *
 * A Deployment pod's id is its dashed IP (`10-244-1-5`, `fd00--1`): its address is the id turned back,
 * at no cost. A StatefulSet pod's id is its hostname (`miroir-0`): its address is the one DNS gave with
 * the SRV answer that listed it (its additional section: `PeerSet.addresses`), kept while the peer stays
 * in this pod's view, since DNS drops the name as the pod leaves, just when its `left` hint has to be
 * recognised; failing that, what `<id>.<service>.<namespace>.svc.<domain>.` resolves to with the pod's own
 * resolver. An id that is neither gives a {@link PeerUnreachable} that says so, never a guess.
 *
 * Why not look every hostname up as it enters the view: each pod would make a lookup per peer, and a
 * StatefulSet of N pods starting together N² of them (50 pods: 2,450 at once, which slowed the
 * simulator's DNS until the pods' own lookups timed out).
 */
import { isIP } from "node:net"
import { DnsResolver, PeerDiscovery, PeerDiscoveryConfig, PeerId, type PeerSet } from "@miroir/peer-discovery"
import { Clock, Context, Duration, Effect, Layer, Option, Ref, Semaphore } from "effect"
import { PeerUnreachable } from "./PeerUnreachable.js"

/**
 * Who a connection comes from, for a hint about `peer`: `named` (the address of the pod the hint names),
 * `peer` (the address of another pod of this pod's view) or `unknown` (neither, or not known without a
 * lookup this pod refuses to make for it).
 */
export type Sender = "named" | "peer" | "unknown"

/** What the service offers. */
export interface Service {
  /** Where `peer` is reached: its address. */
  readonly addressOf: (peer: string) => Effect.Effect<string, PeerUnreachable>
  /**
   * Who a connection from `source` (its remote address as the socket gives it) is, for a hint about
   * `peer`. Costs no lookup for a dashed-IP id nor for a peer of the view; a hostname outside the view is
   * looked up only where the view holds hostnames (a StatefulSet), one lookup at a time and at most one
   * per {@link LOOKUP_SPACING}, and its answer is kept {@link UNKNOWN_NAME_TTL}: otherwise `unknown`.
   */
  readonly senderOf: (peer: PeerId.PeerId, source: string) => Effect.Effect<Sender>
  /**
   * The peer of this pod's view (other than this pod) whose address is `source` (a remote address as the
   * socket gives it), if any. Costs no lookup (the address in a dashed-IP id, or the one DNS listed a
   * hostname with): a connection from an address this pod does not know without one is nobody's, so that a
   * stranger costs nothing and changes nothing.
   */
  readonly peerAt: (source: string) => Effect.Effect<Option.Option<PeerId.PeerId>>
  /**
   * Where this pod's connections to its peers leave from: its own pod IP (`POD_IP`), the address its peers
   * expect its hints from; none when `POD_IP` is unset (the system picks).
   */
  readonly ownAddress: Option.Option<string>
}

/** The service as a Tag; tests replace it with a table. */
export class PeerAddresses extends Context.Service<PeerAddresses, Service>()("@miroir/miroir/PeerAddresses") {}

/** The shortest time between two lookups of hostnames outside the view made for incoming hints. */
export const LOOKUP_SPACING = Duration.millis(100)

/** How long the address of a hostname outside the view (or its absence) is kept. */
export const UNKNOWN_NAME_TTL = Duration.seconds(10)

/** Hostnames outside the view kept at once; past it, another such name is `unknown` without a lookup. */
export const MAX_UNKNOWN_NAMES = 256

/**
 * The address a dashed-IP id stands for (`10-244-1-5` → `10.244.1.5`, `fd00--1` → `fd00::1`, CoreDNS's
 * `fd00--0` → `fd00::`), in canonical form; none for any other id (a hostname such as `miroir-0`).
 */
export const addressOfId = (id: string): Option.Option<string> => {
  if (/^\d{1,3}(-\d{1,3}){3}$/.test(id)) {
    const ip = id.replaceAll("-", ".")
    return isIP(ip) === 4 ? Option.some(ip) : Option.none()
  }
  if (!/^[0-9a-f-]+$/.test(id) || !id.includes("-")) return Option.none()
  const ip = id.replaceAll("-", ":")
  return isIP(ip) === 6 ? Option.some(canonical(ip)) : Option.none()
}

/**
 * An address in the form sockets report it, so that two spellings of one address compare equal: IPv6 in
 * RFC 5952 form, and an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack listener sees of
 * an IPv4 client) as the IPv4 address.
 */
export const canonical = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  return isIP(address) === 6 ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address
}

/** A hostname's lookup: its address, or why there is none. */
type Resolved = { readonly address: string } | { readonly reason: string }

/** Builds the service over discovery, the pod's resolver and its settings. */
export const make = Effect.gen(function*() {
  const discovery = yield* PeerDiscovery.PeerDiscovery
  const resolver = yield* DnsResolver.DnsResolver
  const settings = yield* PeerDiscoveryConfig.PeerDiscoveryConfig
  const domain = PeerId.serviceDomain(settings)
  /** The address of `id` known without a lookup: the one in a dashed-IP id, or the one DNS listed it with. */
  const known = (set: PeerSet.PeerSet, id: string): Option.Option<string> =>
    Option.orElse(addressOfId(id), () => listedAddress(set, id))
  /** Hostnames outside the view resolved for incoming hints, with the time (ms) each expires. */
  const outside = yield* Ref.make<ReadonlyMap<string, Resolved & { readonly until: number }>>(new Map())
  /** When the last lookup for {@link outside} started (ms); one at a time. */
  const lastOutsideLookup = yield* Ref.make(Number.NEGATIVE_INFINITY)
  const outsideLookups = yield* Semaphore.make(1)

  const lookUp = (peer: string): Effect.Effect<Resolved> => {
    const name = `${peer}.${domain}`
    return resolver.resolveAddresses(name).pipe(
      Effect.map((addresses): Resolved =>
        addresses.length === 0
          ? { reason: `id not an address, and ${name} has no address` }
          : { address: canonical(addresses[0]!) }
      ),
      Effect.catch((error) =>
        Effect.succeed({ reason: `id not an address, and ${name} does not resolve: ${error.outcome}` })
      )
    )
  }

  const unreachable = (peer: string) => (resolved: Resolved): Effect.Effect<string, PeerUnreachable> =>
    "address" in resolved
      ? Effect.succeed(resolved.address)
      : Effect.fail(new PeerUnreachable({ peer, reason: resolved.reason }))

  const addressOf = (peer: string): Effect.Effect<string, PeerUnreachable> =>
    Effect.flatMap(discovery.current, (set) =>
      Option.match(known(set, peer), {
        onSome: Effect.succeed,
        // A peer DNS gave no address for (a server that sends no additional records): look it up now.
        onNone: () => Effect.flatMap(lookUp(peer), unreachable(peer))
      }))

  /** The address of a hostname outside the view, for a hint: kept, spaced, one lookup at a time. */
  const outsideAddress = (peer: string): Effect.Effect<Option.Option<string>> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const kept = (yield* Ref.get(outside)).get(peer)
      if (kept !== undefined && kept.until > now) {
        return "address" in kept ? Option.some(kept.address) : Option.none()
      }
      const resolved = yield* outsideLookups.withPermitsIfAvailable(1)(
        Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          const last = yield* Ref.get(lastOutsideLookup)
          if (started < last + Duration.toMillis(LOOKUP_SPACING)) return Option.none<Resolved>()
          yield* Ref.set(lastOutsideLookup, started)
          return Option.some(yield* lookUp(peer))
        })
      ).pipe(Effect.map(Option.flatten))
      if (Option.isNone(resolved)) return Option.none()
      const until = (yield* Clock.currentTimeMillis) + Duration.toMillis(UNKNOWN_NAME_TTL)
      yield* Ref.update(outside, (all) => {
        const live = new Map([...all].filter(([, entry]) => entry.until > now))
        return live.size >= MAX_UNKNOWN_NAMES ? live : live.set(peer, { ...resolved.value, until })
      })
      return "address" in resolved.value ? Option.some(resolved.value.address) : Option.none()
    })

  const senderOf = (peer: PeerId.PeerId, source: string): Effect.Effect<Sender> =>
    Effect.gen(function*() {
      const from = canonical(source)
      const set = yield* discovery.current
      const named = known(set, peer)
      if (Option.isSome(named) && named.value === from) return "named"
      if (set.peers.some((id) => id !== set.self && Option.getOrUndefined(known(set, id)) === from)) return "peer"
      // A hostname this pod does not know yet (a StatefulSet pod that just joined): looked up, sparingly,
      // and only where the view holds hostnames; a Deployment's pods are all dashed IPs.
      if (Option.isSome(named) || !holdsHostnames(set)) return "unknown"
      const looked = yield* outsideAddress(peer)
      return Option.isSome(looked) && looked.value === from ? "named" : "unknown"
    })

  const peerAt = (source: string): Effect.Effect<Option.Option<PeerId.PeerId>> =>
    Effect.map(discovery.current, (set) => {
      const from = canonical(source)
      return Option.fromNullishOr(
        set.peers.find((id) => id !== set.self && Option.getOrUndefined(known(set, id)) === from)
      )
    })

  return { addressOf, senderOf, peerAt, ownAddress: settings.podIp } satisfies Service
})

/** The first address DNS gave for `id` with the answer that listed it, canonical. */
const listedAddress = (set: PeerSet.PeerSet, id: string): Option.Option<string> =>
  Option.map(Option.fromNullishOr(set.addresses.get(PeerId.PeerId(id))?.[0]), canonical)

/** Whether `set` lists some pod by hostname (a StatefulSet's, or CoreDNS's `endpoint_pod_names`). */
const holdsHostnames = (set: PeerSet.PeerSet): boolean =>
  set.peers.some((id) => Option.isNone(addressOfId(id)) && (id !== set.self || set.selfInDns))

/** The service over the pod's discovery, resolver and settings. */
export const layer: Layer.Layer<
  PeerAddresses,
  never,
  PeerDiscovery.PeerDiscovery | DnsResolver.DnsResolver | PeerDiscoveryConfig.PeerDiscoveryConfig
> = Layer.effect(PeerAddresses, make)
