/** A peer this pod could not ask, or that did not answer as expected: the one error of talking to peers. */
import { Data } from "effect"

/**
 * A peer that could not be asked, or did not answer as expected, and why (one short line): an id with no
 * address (PeerAddresses), no answer, an HTTP error, an answer the contract does not read, or none in time
 * (PeerMessaging).
 */
export class PeerUnreachable extends Data.TaggedError("PeerUnreachable")<{
  readonly peer: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.peer}: ${this.reason}`
  }
}
