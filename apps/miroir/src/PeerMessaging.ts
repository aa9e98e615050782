/**
 * Talking to peers: the one home of the requests this pod sends the other pods of its view over their
 * HTTP API — the ownership audit's `GET /ownership?shards=N` (OwnershipAudit.ts), the refresh hints'
 * `POST /hints`, sent as a round to every peer (Leave.ts, JoinedHints.ts), and the failure detector's
 * `GET /ping` and `GET /probe?peer=` (the library's PeerProbe, {@link peerProbeLayer}).
 *
 * One client, derived once from the contract (deriving builds the decoders of every answer, milliseconds
 * of CPU), over Node's HTTP with its connections leaving from this pod's own address
 * (PeerAddresses.ownAddress: peers take hints only from there, and a machine where the pod has other
 * addresses too might pick another one). A peer is asked at the address PeerAddresses gives its id, on the
 * port this pod's own server listens on: every pod of the Deployment serves on the same one, the port the
 * SRV records carry too. Any answer but a 200 is reported by its status (`HTTP 503 from …`), whatever its
 * body.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { type Hint, PeerId, PeerProbe, type PeerSet } from "@miroir/peer-discovery"
import { Clock, Context, Duration, Effect, Layer, Option, Result } from "effect"
import { HttpClient, HttpClientError, HttpServer } from "effect/http"
import * as Client from "@miroir/pod-api/Client"
import { type HintBody, MAX_SILENT_FOR_MS, type OwnershipBody } from "@miroir/pod-api"
import { baseUrl } from "@miroir/pod-api/baseUrl"
import { PeerAddresses } from "./PeerAddresses.js"
import { PeerUnreachable } from "./PeerUnreachable.js"

/** What talking to peers offers. */
export interface Service {
  /**
   * The peer's answer to `GET /ownership?shards=<shards>`, within `timeout` (the lookup of a hostname
   * included). Fields the contract does not know are ignored, so that a newer pod still answers an older
   * auditor.
   */
  readonly ownership: (
    peer: string,
    shards: number,
    timeout: Duration.Input
  ) => Effect.Effect<typeof OwnershipBody.Type, PeerUnreachable>
  /**
   * Sends the refresh hint `kind` about `about` (by default `set.self`) to every other peer of `set`, all within
   * {@link HINTS_TIMEOUT} of the start (one deadline for the round, {@link HINTS_CONCURRENCY} at once), then
   * logs how many took it and why the others did not: a peer that accepts the connection and never answers
   * is cut at the deadline and counted as failed, and the line is still written. Failures are not errors: a
   * hint is an optimisation, the ticks still come.
   */
  readonly hintAll: (kind: Hint.Kind, set: PeerSet.PeerSet, about?: string) => Effect.Effect<void>
  /**
   * `GET /ping` of `peer`, within `timeout`: succeeds when it answers 200, with the peers it holds down
   * (none from an older pod, whose answer does not say, nor from an answer that does not decode).
   */
  readonly ping: (peer: string, timeout: Duration.Input) => Effect.Effect<ReadonlyArray<PeerId.PeerId>, PeerUnreachable>
  /**
   * `GET /probe?peer=<target>&silentForMs=` of `helper`, within `timeout`, saying how long the target has
   * not answered this pod (`silentFor`, none by default): whether the target answered the helper's ping
   * (`true`, an ack) or not (`false`, a nack); fails when the helper itself did not answer with one.
   */
  readonly pingVia: (
    helper: string,
    target: string,
    timeout: Duration.Input,
    silentFor?: Duration.Input
  ) => Effect.Effect<boolean, PeerUnreachable>
}

/** Talking to peers as a service; tests replace it with in-memory peers. */
export class PeerMessaging extends Context.Service<PeerMessaging, Service>()("@miroir/miroir/PeerMessaging") {}

/** The longest time one round of hints may take (every peer at once, each bounded by it). */
export const HINTS_TIMEOUT = Duration.seconds(1)

/** Peers hinted at once. */
const HINTS_CONCURRENCY = 16

/** Reasons quoted in the log line of a round of hints: enough to see what went wrong, never a flood. */
const LOGGED_FAILURES = 3

/** Characters of an answer the contract does not read quoted in the reason. */
const BAD_ANSWER_CHARS = 160

/**
 * Whether a request's error is a 200 whose body the contract could not read: one that is not JSON, is
 * empty or does not decode (the derived client reports all three as Schema errors; the HTTP layer's own
 * DecodeError and EmptyBodyError would say the same). Anything else (no connection, another status, a
 * request this pod could not build) is no answer.
 */
const answeredUnreadable = (error: unknown): boolean =>
  !HttpClientError.isHttpClientError(error) ||
  error.reason._tag === "DecodeError" || error.reason._tag === "EmptyBodyError"

/** Builds the service over an HttpClient and where peers are ({@link PeerAddresses}), asking every peer on `port`. */
export const make = (port: number): Effect.Effect<Service, never, HttpClient.HttpClient | PeerAddresses> =>
  Effect.gen(function*() {
    // Any answer but a 200 is reported by its status: the reason says `HTTP 503`, whatever the body.
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const client = yield* Effect.provideService(Client.make, HttpClient.HttpClient, http)
    const { addressOf } = yield* PeerAddresses

    /** What a request of `peer`'s at `address` failed with, as the reason a log line quotes. */
    const unreachable = (peer: string, address: string) => (error: { readonly message: string }) => {
      if (HttpClientError.isHttpClientError(error)) {
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
    }

    /** `request` of `peer` (given its base URL) within `timeout`, the address lookup included. */
    const ask = <A, E extends { readonly message: string }>(
      peer: string,
      timeout: Duration.Input,
      request: (url: string) => Effect.Effect<A, E>
    ) =>
      Effect.gen(function*() {
        const address = yield* addressOf(peer)
        return yield* request(baseUrl(address, port)).pipe(Effect.mapError(unreachable(peer, address)))
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new PeerUnreachable({
                peer,
                reason: `no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
              })
            )
        })
      )

    const ownership = (peer: string, shards: number, timeout: Duration.Input) =>
      ask(peer, timeout, (url) => client.ownership.ownership({ query: { shards } }).pipe(Client.at(url)))

    const ping = (peer: string, timeout: Duration.Input) =>
      ask(peer, timeout, (url) =>
        client.ping.ping().pipe(
          Client.at(url),
          Effect.map((answer) => answer.down.map(PeerId.PeerId)),
          // A 200 whose body does not decode is still an answer: the peer is there, and a ping says that
          // first. What it holds down is then unknown, which is what an older pod's answer says too.
          Effect.catchIf(answeredUnreadable, () => Effect.succeed([]))
        ))

    const pingVia = (helper: string, target: string, timeout: Duration.Input, silentFor: Duration.Input = 0) =>
      ask(helper, timeout, (url) =>
        client.ping.probe({
          query: { peer: target, silentForMs: Math.min(Math.round(Duration.toMillis(silentFor)), MAX_SILENT_FOR_MS) }
        }).pipe(
          Client.at(url),
          Effect.map((answer) => answer.answered)
        ))

    const hint = (peer: string, body: typeof HintBody.Type) =>
      Effect.gen(function*() {
        const address = yield* addressOf(peer)
        yield* client.hints.hint({ payload: body }).pipe(
          Client.at(baseUrl(address, port)),
          Effect.mapError((error) =>
            new PeerUnreachable({ peer, reason: `hint not taken by ${address}: ${error.message}` })
          )
        )
      })

    const hintAll = (kind: Hint.Kind, set: PeerSet.PeerSet, about: string = set.self) =>
      Effect.gen(function*() {
        const others = set.peers.filter((peer) => peer !== set.self && peer !== about)
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(HINTS_TIMEOUT)
        const results = yield* Effect.forEach(others, (peer) =>
          Effect.gen(function*() {
            const left = Duration.millis(Math.max(0, deadline - (yield* Clock.currentTimeMillis)))
            return yield* hint(peer, { kind, peer: about }).pipe(
              Effect.timeoutOrElse({
                duration: left,
                orElse: () =>
                  Effect.fail(
                    new PeerUnreachable({ peer, reason: `hint not taken within ${Duration.format(HINTS_TIMEOUT)}` })
                  )
              }),
              Effect.result
            )
          }), { concurrency: HINTS_CONCURRENCY })
        const failed = results.flatMap((result) => (Result.isFailure(result) ? [result.failure.message] : []))
        const log = failed.length === 0 ? Effect.logInfo : Effect.logWarning
        yield* log(`sent refresh hints: ${kind}`).pipe(
          Effect.annotateLogs({
            about,
            peers: others.length,
            accepted: others.length - failed.length,
            failed: failed.length,
            failures: failed.slice(0, LOGGED_FAILURES)
          })
        )
      })

    return { ownership, hintAll, ping, pingVia } satisfies Service
  })

/**
 * The service over Node's HTTP from this pod's own address (PeerAddresses.ownAddress), asking every peer
 * at the port this pod's own HTTP server listens on (the server in context: with port 0 in tests, the port
 * it got).
 */
export const layer: Layer.Layer<PeerMessaging, never, HttpServer.HttpServer | PeerAddresses> = Layer.effect(
  PeerMessaging,
  Effect.flatMap(
    HttpServer.HttpServer,
    ({ address }) => make(address._tag === "UnixPathAddress" ? 0 : address.port)
  )
).pipe(
  // A layer of its own, so that Node's agent lives (and its connections are closed) with the service.
  Layer.provide(Layer.unwrap(Effect.map(PeerAddresses, ({ ownAddress }) => {
    const localAddress = Option.getOrUndefined(ownAddress)
    return NodeHttpClient.layerNodeHttpOptions(localAddress === undefined ? {} : { localAddress })
  })))
)

/** The failure detector's probes (the library's PeerProbe) over the {@link PeerMessaging} in context. */
export const peerProbeLayer: Layer.Layer<PeerProbe.PeerProbe, never, PeerMessaging> = Layer.effect(
  PeerProbe.PeerProbe,
  Effect.map(PeerMessaging, (messaging) => {
    const failed = (peer: PeerId.PeerId) => (error: PeerUnreachable) =>
      new PeerProbe.ProbeFailed({ peer, reason: error.reason })
    return {
      ping: (peer, timeout) =>
        Effect.mapBoth(messaging.ping(peer, timeout), {
          onFailure: failed(peer),
          onSuccess: (down): PeerProbe.Answer => ({ down })
        }),
      pingVia: (helper, target, timeout, silentFor) =>
        Effect.mapError(messaging.pingVia(helper, target, timeout, silentFor), failed(helper))
    } satisfies PeerProbe.Service
  })
)
