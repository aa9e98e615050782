/**
 * How a pod probes its peers: the transport of the failure detector ({@link PeerHealth}), which the
 * library does not own. The pod service probes over its HTTP API (`GET /ping`, and `GET /probe?peer=` to
 * ask a peer to probe another); tests give in-memory peers. Swapped by layers, as @effect/cluster's
 * RunnerHealth is.
 */
import { Context, Data, type Duration, type Effect } from "effect"
import type { PeerId } from "./PeerId.js"

/** A probe got no answer in time, or an answer that is not one (the reason says which, for the logs). */
export class ProbeFailed extends Data.TaggedError("ProbeFailed")<{
  readonly peer: PeerId
  readonly reason: string
}> {
  override get message(): string {
    return `no answer from ${this.peer}: ${this.reason}`
  }
}

/**
 * What a peer's answer to a ping says besides "I am here": the peers it holds down (its failure
 * detector's `down`), sorted. The pinging pod learns from it whether its peers hold it down although it
 * reaches them (SWIM's news carried on acks): a pod the others cannot reach, but that reaches them, fences
 * itself. A peer that tells nothing (one without a detector, an older version) answers `down: []`.
 */
export interface Answer {
  readonly down: ReadonlyArray<PeerId>
}

/** An answer that tells nothing but that the peer is there. */
export const answered: Answer = { down: [] }

/** What probing offers. */
export interface Service {
  /** Asks `peer` whether it is there, within `timeout`: its answer, when it gives one. */
  readonly ping: (peer: PeerId, timeout: Duration.Duration) => Effect.Effect<Answer, ProbeFailed>
  /**
   * Asks `helper` to ping `target` for this pod (an indirect probe), within `timeout` in all, telling it
   * that `target` has not answered this pod for `silentFor` (the helper counts its own failed ping as that
   * much older evidence): `true` when the target answered the helper (an ack), `false` when the helper
   * answered that it did not (a nack); fails when the helper itself did not answer.
   */
  readonly pingVia: (
    helper: PeerId,
    target: PeerId,
    timeout: Duration.Duration,
    silentFor: Duration.Duration
  ) => Effect.Effect<boolean, ProbeFailed>
}

/** Probing as a service. */
export class PeerProbe extends Context.Service<PeerProbe, Service>()("@miroir/peer-discovery/PeerProbe") {}
