/**
 * Refresh hints sent by this pod: when DNS first lists it, it tells every peer in its view to look up
 * again now (`joined`); when it leaves, once DNS no longer lists it, it tells them again (`left`) and
 * resigns its shards (Leave.ts). Each peer then looks up DNS sooner than its next tick; nothing but DNS
 * changes a set.
 *
 * The leave starts at the chart's preStop hook (`miroir leave`, through the admin listener), or at
 * SIGTERM from the layer's finalizer, which runs before discovery's (this layer depends on it); it is
 * bounded: waiting for DNS to drop this pod is at most {@link LEAVE_DNS_WAIT}, sending at most
 * {@link SEND_TIMEOUT} (every peer at once), so that a stopping pod never exits much later because of
 * hints. When DNS still lists the pod after the wait, it sends nothing and the leave stays unspent. In Kubernetes the endpoint leaves the slice
 * as the pod starts terminating, when the preStop hook is called, so the wait is DNS's own delay in
 * publishing that (CoreDNS's watch, its cache), a few lookups.
 */
import { type Hint, PeerDiscovery, type PeerDiscoveryConfig, type PeerSet } from "@miroir/peer-discovery"
import { Clock, Duration, Effect, Layer, Option, Result, Schedule, Stream } from "effect"
import { HttpClient, HttpServer } from "effect/http"
import { AppConfig } from "./AppConfig.js"
import * as Client from "./HttpApi/Client.js"
import type { HintBody } from "./HttpApi/Contract.js"
import * as Leave from "./Leave.js"
import { baseUrl, httpClientLayer, PeerAddresses, PeerUnreachable } from "./PeerAddresses.js"

/**
 * The longest wait of a leave for DNS to stop listing this pod; past it no hint goes and the leave stays
 * unspent. With {@link SEND_TIMEOUT}, a leave takes at most 3 s, so a stopping pod still exits well within 5 s.
 */
const LEAVE_DNS_WAIT = Duration.seconds(2)

/** The longest time sending one round of hints may take (every peer at once, each bounded by it). */
const SEND_TIMEOUT = Duration.seconds(1)

/** Peers hinted at once. */
const SEND_CONCURRENCY = 16

/** The first delay between the lookups of this pod's own listing as it leaves; doubled up to {@link LEAVE_POLL_CAP}. */
const LEAVE_POLL_BASE = Duration.millis(50)

/**
 * The longest delay between those lookups: every 100 ms after the first two, so that the hints follow DNS
 * dropping this pod within a tenth of a second (a doubling backoff once sent them up to 800 ms late), at
 * the cost of at most about 20 lookups over {@link LEAVE_DNS_WAIT}, once per pod's life.
 */
const LEAVE_POLL_CAP = Duration.millis(100)

/** Reasons quoted in the log line of a round of hints: enough to see what went wrong, never a flood. */
const LOGGED_FAILURES = 3

/**
 * Sends `kind` about `set.self` to every other peer of `set`, all within {@link SEND_TIMEOUT} of the start
 * (one deadline for the round, {@link SEND_CONCURRENCY} at once), then logs how many took it and why the
 * others did not: a peer that accepts the connection and never answers is cut at the deadline and
 * counted as failed, and the line is still written. Failures are not errors: a hint is an optimisation,
 * the ticks still come.
 */
const sendAll = (
  post: (peer: string, body: typeof HintBody.Type) => Effect.Effect<void, PeerUnreachable>,
  kind: Hint.Kind,
  set: PeerSet.PeerSet
) =>
  Effect.gen(function*() {
    const others = set.peers.filter((peer) => peer !== set.self)
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(SEND_TIMEOUT)
    const results = yield* Effect.forEach(others, (peer) =>
      Effect.gen(function*() {
        const left = Duration.millis(Math.max(0, deadline - (yield* Clock.currentTimeMillis)))
        return yield* post(peer, { kind, peer: set.self }).pipe(
          Effect.timeoutOrElse({
            duration: left,
            orElse: () =>
              Effect.fail(
                new PeerUnreachable({ peer, reason: `hint not taken within ${Duration.format(SEND_TIMEOUT)}` })
              )
          }),
          Effect.result
        )
      }), { concurrency: SEND_CONCURRENCY })
    const failed = results.flatMap((result) => (Result.isFailure(result) ? [result.failure.message] : []))
    const log = failed.length === 0 ? Effect.logInfo : Effect.logWarning
    yield* log(`sent refresh hints: ${kind}`).pipe(
      Effect.annotateLogs({
        peers: others.length,
        accepted: others.length - failed.length,
        failed: failed.length,
        failures: failed.slice(0, LOGGED_FAILURES)
      })
    )
  })

/**
 * Builds the sender: forks the `joined` hints, and returns this pod's leave (Leave.ts), which sends the
 * `left` ones then resigns, at the preStop hook or at the scope's end. Peers are found as the audit finds
 * them (PeerAddresses), on `port`, the port every pod serves on.
 */
export const make = (port: number) =>
  Effect.gen(function*() {
    const discovery = yield* PeerDiscovery.PeerDiscovery
    const { addressOf } = yield* PeerAddresses
    const http = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const client = yield* Effect.provideService(Client.make, HttpClient.HttpClient, http)

    const post = (peer: string, body: typeof HintBody.Type) =>
      Effect.gen(function*() {
        const address = yield* addressOf(peer)
        yield* client.hints.hint({ payload: body }).pipe(
          Client.at(baseUrl(address, port)),
          Effect.mapError((error) =>
            new PeerUnreachable({ peer, reason: `hint not taken by ${address}: ${error.message}` })
          )
        )
      })

    // Joined: the first set in which DNS lists this pod, then every peer of it is told.
    yield* discovery.refreshes.pipe(
      Stream.filter((set) => set.selfInDns),
      Stream.runHead,
      Effect.flatMap(Option.match({
        onNone: () => Effect.void,
        onSome: (set) => sendAll(post, "joined", set)
      })),
      Effect.forkScoped
    )
    // Until then discovery looks itself up sooner than the ticks (PeerDiscovery's untilListed): a pod
    // starts before it is ready, and waiting for the next tick (up to 1.2 R) would delay these hints.

    // Left: once DNS no longer lists this pod, to the peers of the last view that listed it; then this pod
    // resigns, since they look up now. If DNS still lists it when the wait ends, nothing: receivers would
    // only look up and find it listed, and the leave stays unspent for the next call (Leave.ts).
    const leave = Effect.gen(function*() {
      // A pod DNS never listed has nobody to tell; one it did may be unlisted already (the endpoint
      // leaves as the pod starts terminating, and a tick may have seen it before the hook).
      if ((yield* discovery.current).everListed) {
        const unlisted = discovery.refresh.pipe(
          Effect.flatMap((set) => (set.selfInDns ? Effect.fail("still listed" as const) : Effect.void)),
          Effect.retry(
            Schedule.exponential(LEAVE_POLL_BASE).pipe(
              Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, LEAVE_POLL_CAP))),
              Schedule.upTo({ duration: LEAVE_DNS_WAIT })
            )
          ),
          Effect.timeout(LEAVE_DNS_WAIT),
          Effect.isSuccess
        )
        if (!(yield* unlisted)) {
          yield* Effect.logInfo(
            "DNS still lists this pod: no left hints, shards kept; the leave is not spent (the next preStop or SIGTERM runs it again)"
          ).pipe(Effect.annotateLogs({ waited: Duration.format(LEAVE_DNS_WAIT) }))
          return { result: "listed", selfInDns: true } satisfies Leave.Outcome
        }
        yield* sendAll(post, "left", yield* discovery.current)
      }
      // After the hints, not before: resigning before the peers look up would leave the shards unowned.
      yield* discovery.leave
      return { result: "left", selfInDns: (yield* discovery.current).selfInDns } satisfies Leave.Outcome
    }).pipe(
      Effect.catchCause((cause) =>
        Effect.logWarning("sending the left hints failed", cause).pipe(
          Effect.andThen(discovery.current),
          Effect.map((set): Leave.Outcome => ({ result: "left", selfInDns: set.selfInDns }))
        )
      )
    )
    return yield* Leave.make(leave)
  })

/**
 * The sender at the port this pod's own HTTP server listens on (every pod serves on the same one), and
 * this pod's {@link Leave.Leave}; when `MIROIR_PEER_HINTS=off`, no hints and a leave that does nothing.
 */
export const layer: Layer.Layer<
  Leave.Leave,
  never,
  | AppConfig
  | HttpServer.HttpServer
  | PeerDiscovery.PeerDiscovery
  | PeerDiscoveryConfig.PeerDiscoveryConfig
  | PeerAddresses
> = Layer.effect(
  Leave.Leave,
  Effect.gen(function*() {
    const { peerHints } = yield* AppConfig
    if (peerHints === "off") {
      const discovery = yield* PeerDiscovery.PeerDiscovery
      return Leave.off(Effect.map(discovery.current, (set) => set.selfInDns))
    }
    const { address } = yield* HttpServer.HttpServer
    return yield* make(address._tag === "UnixPathAddress" ? 0 : address.port)
  })
).pipe(Layer.provide(httpClientLayer))
