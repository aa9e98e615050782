/**
 * The pings this pod's peers send it (`GET /ping`), told to its failure detector (PeerHealth.pingedBy): a
 * pod that its own probes find cut off, but that its peers still ping, is not cut off from them, and does
 * not fence itself (they count it alive, so its shards would have no owner).
 *
 * The guarded server answers pings synchronously, before any queue (HttpApi/Server.ts), and hands the
 * remote address of each to {@link Service.received}, which cannot wait: the addresses go through a
 * bounded sliding queue to a fiber of {@link layerTellingDetector}, which tells the detector of those that
 * are the address of a peer of this pod's view (PeerAddresses.peerAt, no lookup). A ping from any other
 * address changes nothing: a stranger cannot keep a cut-off pod from fencing itself.
 */
import { PeerHealth } from "@miroir/peer-discovery"
import { Context, Effect, Layer, Option, Queue } from "effect"
import { MAX_CONNECTIONS, MAX_PIPELINED_REQUESTS } from "./HttpApi/Limits.js"
import { PeerAddresses } from "./PeerAddresses.js"

/** What the pings received offer. */
export interface Service {
  /**
   * A ping from `source` (its connection's remote address, as the socket gives it) was answered.
   * Synchronous and never waiting: past {@link PINGS_KEPT} addresses not yet read, the oldest is dropped.
   */
  readonly received: (source: string) => void
  /** The addresses received, oldest first, for {@link layerTellingDetector}. */
  readonly sources: Queue.Dequeue<string>
}

/** The pings received as a service. */
export class PingsReceived extends Context.Service<PingsReceived, Service>()("@miroir/miroir/PingsReceived") {}

/**
 * Addresses kept until the fiber reads them: more than the server can answer in one turn of the event loop
 * (every connection with every pipelined request a ping), so that a flood of pings from strangers between
 * two reads cannot push a peer's ping out; a peer pings again at its next round anyway.
 */
export const PINGS_KEPT = MAX_CONNECTIONS * MAX_PIPELINED_REQUESTS

/** Builds the service over a queue of its own. */
export const make: Effect.Effect<Service> = Effect.map(Queue.sliding<string>(PINGS_KEPT), (queue) => ({
  received: (source) => {
    Queue.offerUnsafe(queue, source)
  },
  sources: queue
}))

/** The pings received, with no dependencies: the server hands them over, {@link layerTellingDetector} reads them. */
export const layer: Layer.Layer<PingsReceived> = Layer.effect(PingsReceived, make)

/**
 * Tells the failure detector in context of the pings received from a peer of this pod's view (this pod
 * itself aside), in a fiber of the layer's scope: once per peer for each batch read, since one ping or
 * ten between two reads say the same.
 */
export const layerTellingDetector: Layer.Layer<
  never,
  never,
  PingsReceived | PeerHealth.PeerHealth | PeerAddresses
> = Layer.effectDiscard(
  Effect.gen(function*() {
    const { sources } = yield* PingsReceived
    const detector = yield* PeerHealth.PeerHealth
    const addresses = yield* PeerAddresses
    yield* Queue.takeAll(sources).pipe(
      Effect.flatMap((batch) =>
        Effect.forEach(new Set(batch), (source) =>
          Effect.flatMap(
            addresses.peerAt(source),
            Option.match({
              onNone: () => Effect.void,
              onSome: detector.pingedBy
            })
          ), { discard: true })
      ),
      Effect.forever,
      Effect.forkScoped
    )
  })
)
