/**
 * Which of the peers DNS lists are alive: the failure detector, as SWIM and Lifeguard taught (README, "The
 * failure detector"). DNS stays the only source of who exists — a peer DNS does not list is never added,
 * and one it drops is forgotten — and probes decide only who among them is alive: a peer whose probe fails,
 * confirmed by the peers asked to probe it, is suspected, and held down once its suspicion lasts; its shards
 * then go to the next owners in rendezvous order ({@link OwnershipView}) on every pod that agrees, and come
 * back when it answers again. A pod whose probes reach nobody holds its own shards back (it is fenced).
 *
 * Behaviour swapped by layers, as @effect/cluster's RunnerHealth: {@link layer} probes through the
 * {@link PeerProbe} in context; {@link layerNone} never suspects anybody (DNS alone decides).
 */
import { Context, Data, type Duration, Effect, Layer, Option, Stream } from "effect"
import * as FailureDetector from "./internal/failureDetector.js"
import * as HealthTable from "./internal/healthTable.js"
import { PeerDiscovery } from "./PeerDiscovery.js"
import { PeerHealthConfig } from "./PeerHealthConfig.js"
import type { PeerId } from "./PeerId.js"
import { PeerProbe } from "./PeerProbe.js"

/**
 * What this pod's failure detector holds of its peers now: `suspected`, the listed peers whose probe failed,
 * confirmed by others, and that have not answered since; `down`, the listed peers held down (suspected for
 * the whole suspicion timeout: their shards went to others); both sorted; `fenced`, true while this pod's
 * probes reach no peer (it holds its own shards back).
 */
export type Health = HealthTable.Verdicts

/** Every peer alive, this pod not fenced: what {@link layerNone} always says. */
export const healthy: Health = HealthTable.noVerdicts

/** Why this pod did not probe a peer for another: `off` (no failure detector here), `not-a-peer` (DNS does not list it), `self`. */
export class NotProbing extends Data.TaggedError("NotProbing")<{
  readonly peer: string
  readonly reason: "off" | FailureDetector.Refusal
}> {
  override get message(): string {
    switch (this.reason) {
      case "off":
        return "failure detection is off on this pod"
      case "not-a-peer":
        return `${this.peer} is not a peer in this pod's view`
      case "self":
        return `${this.peer} is this pod`
    }
  }
}

/** What the failure detector offers. */
export interface Service {
  /** The verdicts now. */
  readonly current: Effect.Effect<Health>
  /** The verdicts now, then after every change. */
  readonly changes: Stream.Stream<Health>
  /**
   * The peers DNS dropped shortly after this pod's probe of them failed, or dropped before this pod's turn
   * to probe them and that did not answer that last probe (a crash, seen first-hand), from the moment of
   * subscription: the pod service tells its peers (`left` refresh hints about them), so that each looks DNS
   * up now instead of at its own turn to probe the dead pod.
   */
  readonly departures: Stream.Stream<PeerId>
  /**
   * Probes `peer` for another pod (an indirect probe): `true` when it answered. Its failure counts as this
   * pod's own evidence too (the asking pod's failed probe is the second opinion), silent for `silentFor`
   * more (what the asker says, at most the suspicion timeout; none by default), and starts a DNS lookup,
   * as a crashed pod is dropped by DNS within seconds. One probe in flight per peer, however many ask.
   */
  readonly probeFor: (peer: PeerId, silentFor?: Duration.Duration) => Effect.Effect<boolean, NotProbing>
  /**
   * `peer` (a peer of this pod's view: the caller checks its address) pinged this pod: this pod is not cut
   * off from it, whatever its own probes find, and does not fence itself while peers keep pinging it (they
   * count it alive, so its shards would have no owner).
   */
  readonly pingedBy: (peer: PeerId) => Effect.Effect<void>
}

/** The failure detector as a service. */
export class PeerHealth extends Context.Service<PeerHealth, Service>()("@miroir/peer-discovery/PeerHealth") {}

/** Nobody is ever suspected: ownership follows DNS alone (the behaviour before the failure detector). */
export const layerNone: Layer.Layer<PeerHealth> = Layer.succeed(PeerHealth, {
  current: Effect.succeed(healthy),
  // Never ending, as a detector's changes: a stream zipped with it (Rendezvous' views) must not end with it.
  changes: Stream.concat(Stream.make(healthy), Stream.never),
  departures: Stream.never,
  probeFor: (peer) => Effect.fail(new NotProbing({ peer, reason: "off" })),
  pingedBy: () => Effect.void
})

/**
 * The failure detector over the {@link PeerDiscovery} and {@link PeerProbe} in context, with the settings of
 * {@link PeerHealthConfig}: its probe loops run in fibers of the layer's scope. With `probeInterval` off, it
 * is {@link layerNone}.
 */
export const layer: Layer.Layer<PeerHealth, never, PeerDiscovery | PeerProbe | PeerHealthConfig> = Layer.unwrap(
  Effect.map(PeerHealthConfig, (settings) =>
    Option.match(settings.probeInterval, {
      onNone: () => layerNone,
      onSome: (interval) =>
        Layer.effect(
          PeerHealth,
          Effect.gen(function*() {
            const detector = yield* FailureDetector.make({
              settings,
              interval,
              discovery: yield* PeerDiscovery,
              probe: yield* PeerProbe
            })
            return {
              current: detector.current,
              changes: detector.changes,
              departures: detector.departures,
              probeFor: (peer, silentFor) =>
                Effect.mapError(detector.probeFor(peer, silentFor), (reason) => new NotProbing({ peer, reason })),
              pingedBy: detector.pingedBy
            } satisfies Service
          })
        )
    }))
)
