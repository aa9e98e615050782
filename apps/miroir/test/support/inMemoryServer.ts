/**
 * An HttpServer without a socket, for tests where sockets are not the point: whatever is served on it
 * (the pod API through HttpApiServer.serve, the production path) runs for each request of its
 * {@link InMemoryServer} clients through the platform's own request handling (`HttpEffect.toHandled`, as
 * Node's server runs it: routing, middleware, the contract's decoding and encoding, errors turned into
 * answers), with no listener. The guarded server, its limits and the connections stay with the tests that
 * open sockets (guardedServer, connectionLimits, the `.process.` tests).
 */
import { Context, Deferred, Effect, Layer, Option } from "effect"
import {
  HttpClient,
  HttpClientError,
  HttpEffect,
  HttpServer,
  HttpServerRequest,
  type HttpServerResponse
} from "effect/http"
import { HttpServerResponse as Response } from "effect/http"
import * as NetAddress from "effect/net/NetAddress"
import { freePort } from "@miroir/process-kit/freePort"
import { Connections } from "../../src/HttpApi/Server.js"

/** Where the answer of one request goes, given to the platform's handling of that request. */
class Answer extends Context.Service<Answer, Deferred.Deferred<HttpServerResponse.HttpServerResponse>>()(
  "@miroir/miroir/test/InMemoryServer/Answer"
) {}

/** What was served, as a function of one request to its answer. */
type Handle = (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse>

/** The clients of the in-memory server. */
export class InMemoryServer extends Context.Service<InMemoryServer, {
  /**
   * An HttpClient whose requests reach what is served, each as if its connection came from `source` (the
   * request's remote address, which `POST /hints` checks). The URL's host and port are not used.
   */
  readonly clientFrom: (source: string) => HttpClient.HttpClient
}>()("@miroir/miroir/test/InMemoryServer") {}

/**
 * The server, as `address` (the port peers would be asked on: PeerMessaging reads it), with its
 * {@link Connections} (none to drop) and the services the API's builder needs (HttpPlatform, Etag, Path, a
 * FileSystem that serves no file). A request before anything is served dies.
 */
export const layer = (address = NetAddress.inetAddressFromIpStringUnsafe("127.0.0.1", 7700)) =>
  Layer.effectContext(Effect.gen(function*() {
    let handle: Handle | undefined
    const server = HttpServer.make({
      address,
      serve: (httpEffect, middleware) =>
        Effect.gen(function*() {
          const context = yield* Effect.context<never>()
          // What `serve` is given needs nothing but the request (HttpServer.make's contract): the handling
          // needs that and where its answer goes.
          const handled: Effect.Effect<void, never, HttpServerRequest.HttpServerRequest | Answer> = HttpEffect
            .toHandled(
              httpEffect,
              (_, response) => Effect.flatMap(Answer, (answer) => Deferred.succeed(answer, response)),
              middleware
            )
          handle = (request) =>
            Effect.gen(function*() {
              const answer = yield* Deferred.make<HttpServerResponse.HttpServerResponse>()
              yield* handled.pipe(
                Effect.provideService(HttpServerRequest.HttpServerRequest, request),
                Effect.provideService(Answer, answer),
                Effect.provideContext(context)
              )
              return yield* Deferred.await(answer)
            })
          yield* Effect.addFinalizer(() => Effect.sync(() => handle = undefined))
        })
    })
    const clientFrom = (source: string) =>
      HttpClient.make((request) =>
        handle === undefined
          ? Effect.fail(
            new HttpClientError.HttpClientError({
              reason: new HttpClientError.TransportError({ request, description: "nothing is served" })
            })
          )
          : Effect.map(
            // Its headers already say the body's type and length (HttpClientRequest.setBody keeps them so).
            handle(HttpServerRequest.fromClientRequest(request).modify({ remoteAddress: Option.some(source) })),
            (response) => Response.toClientResponse(response, { request })
          )
      )
    return Context.make(HttpServer.HttpServer, server).pipe(
      Context.add(Connections, Connections.of({ drop: Effect.void })),
      Context.add(InMemoryServer, InMemoryServer.of({ clientFrom }))
    )
  })).pipe(Layer.provideMerge(HttpServer.layerServices))

/**
 * {@link layer} said to be at `host` (a pod's loopback address) on a port free there: the port its peers are
 * asked on (PeerMessaging reads it). Nothing listens there, so what the pod sends its peers (its hints) is
 * refused at once, rather than reaching whatever this machine serves on 7700 (a simulator's pod, say).
 */
export const layerAtFreePort = (host: string) =>
  Layer.unwrap(
    Effect.map(Effect.promise(() => freePort(host)), (port) =>
      layer(NetAddress.inetAddressFromIpStringUnsafe(host, port)))
  )
