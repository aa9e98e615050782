/** The failure of one DNS lookup, classified so that an answer ("no such name") is never taken for an outage. */
import { Data } from "effect"

/**
 * How a lookup ended when it did not return records:
 * - `nxdomain`: the name does not exist — for a headless Service, no ready endpoints;
 * - `nodata`: the name exists but has no records of that type;
 * - `servfail`: the server failed (CoreDNS answers so before it has synced with the API server);
 * - `refused`: the server refused, or could not be reached;
 * - `timeout`: no answer in time;
 * - `truncated`: the server marked the answer truncated even over TCP, or it was cut short: only part of
 *   the records (often none) arrived, so it is not the set of peers;
 * - `error`: anything else (malformed answer, resolver bug).
 */
export type DnsOutcome = "nxdomain" | "nodata" | "servfail" | "refused" | "timeout" | "truncated" | "error"

/** The outcomes that are answers from DNS rather than failures to get one. */
export const answerOutcomes: ReadonlySet<DnsOutcome> = new Set(["nxdomain", "nodata"])

/** A DNS lookup that returned no records, with its outcome. */
export class DnsLookupError extends Data.TaggedError("DnsLookupError")<{
  /** How the lookup ended. */
  readonly outcome: DnsOutcome
  /** The fully-qualified name looked up. */
  readonly name: string
  /** The record type(s) asked for. */
  readonly rrtype: "SRV" | "A" | "AAAA" | "A/AAAA"
  /** The resolver's own code (the RCODE such as `NXDOMAIN`, a socket error such as `ECONNREFUSED`), when there is one. */
  readonly code?: string | undefined
  /** For `truncated`: how many records of the name the incomplete answer carried. */
  readonly received?: number | undefined
}> {
  override get message(): string {
    const details = [this.code, this.received === undefined ? undefined : `${this.received} records received`]
      .filter((detail) => detail !== undefined)
    return `${this.rrtype} lookup of ${this.name}: ${this.outcome}${
      details.length === 0 ? "" : ` (${details.join(", ")})`
    }`
  }

  /** True when DNS answered that there is nothing (NXDOMAIN or no data), false for failures. */
  get isAnswer(): boolean {
    return answerOutcomes.has(this.outcome)
  }
}
