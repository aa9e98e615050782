/** The node:dns implementation behind DnsResolver.layer. */
import { Resolver } from "node:dns"
import { Effect } from "effect"
import { DnsLookupError, type DnsOutcome } from "../DnsLookupError.js"

/** node:dns (c-ares) error codes by outcome; anything not listed is `error`. */
const outcomeByCode: Record<string, DnsOutcome> = {
  ENOTFOUND: "nxdomain",
  ENODATA: "nodata",
  ESERVFAIL: "servfail",
  EREFUSED: "refused",
  ECONNREFUSED: "refused",
  ETIMEOUT: "timeout"
}

/** The outcome of a node:dns error code. */
export const outcomeOf = (code: string | undefined): DnsOutcome =>
  (code === undefined ? undefined : outcomeByCode[code]) ?? "error"

/**
 * Runs one node:dns query as an Effect. Interruption cancels the resolver's pending queries, so a
 * lookup abandoned by a timeout does not linger beside the next one (discovery never runs two).
 */
export const query = <A>(
  resolver: Resolver,
  name: string,
  rrtype: DnsLookupError["rrtype"],
  run: (resolver: Resolver, name: string, callback: (error: NodeJS.ErrnoException | null, value: A) => void) => void
): Effect.Effect<A, DnsLookupError> =>
  Effect.async<A, DnsLookupError>((resume) => {
    run(resolver, name, (error, value) => {
      if (error === null) {
        resume(Effect.succeed(value))
      } else {
        resume(Effect.fail(new DnsLookupError({ outcome: outcomeOf(error.code), name, rrtype, code: error.code })))
      }
    })
    return Effect.sync(() => resolver.cancel())
  })
