/**
 * Asking another pod, over its HTTP API, what it sees and what it owns: `GET /ownership?shards=N` at
 * the peer's address (PeerAddresses: the address in a dashed-IP id, or what a StatefulSet hostname
 * resolves to) and this pod's own HTTP port (every pod of the Deployment listens on the same one, the
 * port the SRV records carry too).
 */
import type { PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { Context, Duration, Effect, Layer } from "effect"
import { HttpClient, HttpServer } from "effect/http"
import type { AppConfig } from "./AppConfig.js"
import * as Client from "./HttpApi/Client.js"
import type { OwnershipBody } from "./HttpApi/Contract.js"
import { baseUrl, httpClientLayer, PeerAddresses, PeerUnreachable } from "./PeerAddresses.js"

/** What the client offers. */
export interface Service {
  /**
   * The peer's answer to `GET /ownership?shards=<shards>`, within the client's timeout. Fields the
   * contract does not know are ignored, so that a newer pod still answers an older auditor.
   */
  readonly ownership: (peer: string, shards: number) => Effect.Effect<typeof OwnershipBody.Type, PeerUnreachable>
}

/** The client as a service; tests replace it with in-memory peers. */
export class PeerClient extends Context.Service<PeerClient, Service>()("@miroir/miroir/PeerClient") {}

const BAD_ANSWER_CHARS = 160

/** Options of {@link make}. */
export interface Options {
  /** The HTTP port of every pod. */
  readonly port: number
  /** Bound of one request, lookup of a hostname included. */
  readonly timeout: Duration.Input
}

/** Builds the client over an HttpClient and where peers are ({@link PeerAddresses}). */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient | PeerAddresses> =>
  Effect.gen(function*() {
    // Any answer but a 200 is reported by its status: the reason says `HTTP 503`, whatever the body.
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const client = yield* Effect.provideService(Client.make, HttpClient.HttpClient, http)
    const { addressOf } = yield* PeerAddresses

    const ownership = (peer: string, shards: number) =>
      Effect.gen(function*() {
        const address = yield* addressOf(peer)
        return yield* client.ownership.ownership({ query: { shards } }).pipe(
          Client.at(baseUrl(address, options.port)),
          Effect.mapError((error) => {
            if (error._tag === "HttpClientError") {
              const reason = error.reason
              if (reason._tag === "TransportError") {
                const cause = reason.cause as { code?: string; message?: string } | undefined
                return new PeerUnreachable({
                  peer,
                  reason: `no answer from ${address}: ${cause?.code ?? cause?.message ?? reason.message}`
                })
              }
              if (reason._tag === "StatusCodeError") {
                return new PeerUnreachable({ peer, reason: `HTTP ${reason.response.status} from ${address}` })
              }
            }
            return new PeerUnreachable({
              peer,
              reason: `unexpected answer from ${address}: ${error.message.slice(0, BAD_ANSWER_CHARS)}`
            })
          })
        )
      }).pipe(
        Effect.timeoutOrElse({
          duration: options.timeout,
          orElse: () =>
            Effect.fail(
              new PeerUnreachable({
                peer,
                reason: `no answer within ${Duration.format(Duration.fromInputUnsafe(options.timeout))}`
              })
            )
        })
      )

    return { ownership } satisfies Service
  })

/**
 * The client over Node's HTTP from this pod's own address (PeerAddresses.httpClientLayer), at the port
 * this pod's own HTTP server listens on (the server in context: with port 0 in tests, the port it got).
 */
export const layer = (
  timeout: Duration.Input
): Layer.Layer<
  PeerClient,
  never,
  HttpServer.HttpServer | PeerAddresses | AppConfig | PeerDiscoveryConfig.PeerDiscoveryConfig
> =>
  Layer.effect(
    PeerClient,
    Effect.gen(function*() {
      const { address } = yield* HttpServer.HttpServer
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      return yield* make({ port, timeout })
    })
  ).pipe(Layer.provide(httpClientLayer))
