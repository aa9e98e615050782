/**
 * Asking another pod, over its HTTP API, what it sees and what it owns: `GET /ownership?shards=N` at
 * the peer's address and this pod's own HTTP port (every pod of the Deployment listens on the same one,
 * the port the SRV records carry too).
 *
 * A peer's address comes from its id: a Deployment pod's id is its dashed IP (`10-244-1-5`,
 * `fd00--1`), turned back into the address; a StatefulSet pod's id is its hostname (`miroir-0`),
 * looked up as `<id>.<service>.<namespace>.svc.<domain>.` with the pod's own resolver. An id that is
 * neither gives a {@link PeerUnreachable} that says so, never a guess.
 *
 * Under a test harness whose pod IPs exist nowhere (`MIROIR_PEER_ADDRESS_TWIN`), the address found is
 * replaced by its twin, here and only here: the audit and the refresh hints both find peers this way.
 */
import { isIP } from "node:net"
import { HttpClient, HttpServer } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { DnsResolver, PeerDiscoveryConfig, PeerId } from "@miroir/peer-discovery"
import { Context, Data, Duration, Effect, Layer, Option } from "effect"
import * as Client from "./HttpApi/Client.js"
import type { OwnershipBody } from "./HttpApi/Contract.js"
import { type AddressTwin, reachedAt } from "./internal/addressTwin.js"

/** A peer that could not be asked, or did not answer as expected, and why (one short line). */
export class PeerUnreachable extends Data.TaggedError("PeerUnreachable")<{
  readonly peer: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.peer}: ${this.reason}`
  }
}

/** What the client offers. */
export interface Service {
  /**
   * The peer's answer to `GET /ownership?shards=<shards>`, within the client's timeout. Fields the
   * contract does not know are ignored, so that a newer pod still answers an older auditor.
   */
  readonly ownership: (peer: string, shards: number) => Effect.Effect<typeof OwnershipBody.Type, PeerUnreachable>
}

/** The client as a service; tests replace it with in-memory peers. */
export class PeerClient extends Context.Tag("@miroir/miroir/PeerClient")<PeerClient, Service>() {}

/**
 * The address a dashed-IP id stands for (`10-244-1-5` → `10.244.1.5`, `fd00--1` → `fd00::1`, CoreDNS's
 * `fd00--0` → `fd00::0`); none for any other id (a hostname such as `miroir-0`).
 */
export const addressOfId = (id: string): Option.Option<string> => {
  if (/^\d{1,3}(-\d{1,3}){3}$/.test(id)) {
    const ip = id.replaceAll("-", ".")
    return isIP(ip) === 4 ? Option.some(ip) : Option.none()
  }
  if (!/^[0-9a-f-]+$/.test(id) || !id.includes("-")) return Option.none()
  const ip = id.replaceAll("-", ":")
  return isIP(ip) === 6 ? Option.some(ip) : Option.none()
}

/**
 * The address where peer `peer` is reached: its dashed IP turned back into the address, else (a
 * StatefulSet hostname) the first address of `<peer>.<domain>` from `resolver`; then its twin when
 * `twin` is set (`MIROIR_PEER_ADDRESS_TWIN`, test harnesses only). Also used to send refresh hints.
 */
export const peerAddress = (
  resolver: DnsResolver.DnsResolver["Type"],
  domain: string,
  twin: Option.Option<AddressTwin> = Option.none()
) =>
(peer: string): Effect.Effect<string, PeerUnreachable> =>
  Effect.map(
    Option.match(addressOfId(peer), {
      onSome: Effect.succeed,
      onNone: () => {
        const name = `${peer}.${domain}`
        return resolver.resolveAddresses(name).pipe(
          Effect.mapError((error) =>
            new PeerUnreachable({ peer, reason: `id not an address, and ${name} does not resolve: ${error.outcome}` })
          ),
          Effect.flatMap((addresses) =>
            addresses.length === 0
              ? Effect.fail(new PeerUnreachable({ peer, reason: `id not an address, and ${name} has no address` }))
              : Effect.succeed(addresses[0]!)
          )
        )
      }
    }),
    (address) => reachedAt(twin, address)
  )

const BAD_ANSWER_CHARS = 160

/** Options of {@link make}. */
export interface Options {
  /** The HTTP port of every pod. */
  readonly port: number
  /** Bound of one request, lookup of a hostname included. */
  readonly timeout: Duration.DurationInput
  /** Where peers are reached instead of their pod IPs (`MIROIR_PEER_ADDRESS_TWIN`); none: at them. */
  readonly addressTwin?: Option.Option<AddressTwin>
}

/** Builds the client over an HttpClient and the pod's resolver and settings. */
export const make = (options: Options): Effect.Effect<
  Service,
  never,
  HttpClient.HttpClient | DnsResolver.DnsResolver | PeerDiscoveryConfig.PeerDiscoveryConfig
> =>
  Effect.gen(function*() {
    // Any answer but a 200 is reported by its status: the reason says `HTTP 503`, whatever the body.
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const client = yield* Effect.provideService(Client.make, HttpClient.HttpClient, http)
    const resolver = yield* DnsResolver.DnsResolver
    const settings = yield* PeerDiscoveryConfig.PeerDiscoveryConfig
    const domain = PeerId.serviceDomain(settings)

    const addressOf = peerAddress(resolver, domain, options.addressTwin)

    const ownership = (peer: string, shards: number) =>
      Effect.gen(function*() {
        const address = yield* addressOf(peer)
        const host = address.includes(":") ? `[${address}]` : address
        return yield* client.ownership.ownership({ urlParams: { shards } }).pipe(
          Client.at(`http://${host}:${options.port}`),
          Effect.mapError((error) => {
            switch (error._tag) {
              case "RequestError": {
                const cause = error.cause as { code?: string; message?: string } | undefined
                return new PeerUnreachable({
                  peer,
                  reason: `no answer from ${host}: ${cause?.code ?? cause?.message ?? error.reason}`
                })
              }
              case "ResponseError":
                return new PeerUnreachable({ peer, reason: `HTTP ${error.response.status} from ${host}` })
              default:
                return new PeerUnreachable({
                  peer,
                  reason: `unexpected answer from ${host}: ${error.message.slice(0, BAD_ANSWER_CHARS)}`
                })
            }
          })
        )
      }).pipe(
        Effect.timeoutFail({
          duration: options.timeout,
          onTimeout: () =>
            new PeerUnreachable({
              peer,
              reason: `no answer within ${Duration.format(Duration.decode(options.timeout))}`
            })
        })
      )

    return { ownership } satisfies Service
  })

/**
 * The client over Node's HTTP (undici), at the port this pod's own HTTP server listens on (the server
 * in context: with port 0 in tests, the port it got), reaching peers at `addressTwin` when set.
 */
export const layer = (
  timeout: Duration.DurationInput,
  addressTwin: Option.Option<AddressTwin> = Option.none()
): Layer.Layer<
  PeerClient,
  never,
  HttpServer.HttpServer | DnsResolver.DnsResolver | PeerDiscoveryConfig.PeerDiscoveryConfig
> =>
  Layer.effect(
    PeerClient,
    Effect.gen(function*() {
      const { address } = yield* HttpServer.HttpServer
      const port = address._tag === "TcpAddress" ? address.port : 0
      return yield* make({ port, timeout, addressTwin })
    })
  ).pipe(Layer.provide(NodeHttpClient.layerUndici))
