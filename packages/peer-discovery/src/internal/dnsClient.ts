/**
 * Our own DNS client behind DnsResolver.layer: a question goes over UDP with EDNS0, then over TCP when
 * the UDP reply is truncated, to each server in turn until one answers. Owned because node:dns (c-ares)
 * takes a TCP reply with TC set — part of the records, or none — as complete, and says nothing about it.
 */
import { randomInt } from "node:crypto"
import type dnsPacket from "dns-packet"
import { Duration, Effect, Result, type Scope } from "effect"
import { DnsLookupError, type DnsOutcome } from "../DnsLookupError.js"
import { answers, encodeQuery, type Question, verdict } from "./dnsMessage.js"
import { formatServer, sendQuery, type Server, type TransportError } from "./dnsTransport.js"

/**
 * The records of one answer, how many records of another owner name it carried (dropped), and the
 * A/AAAA records of its additional section.
 */
export interface Answer {
  readonly records: ReadonlyArray<dnsPacket.Answer>
  readonly otherOwner: number
  readonly extraAddresses: ReadonlyArray<dnsPacket.Answer>
}

/** Asks one question. */
export type Ask = (question: Question) => Effect.Effect<Answer, DnsLookupError>

const transportOutcome = (code: string): DnsOutcome =>
  code === "ECONNREFUSED" ? "refused" : code === "ETIMEOUT" || code === "ETIMEDOUT" ? "timeout" : "error"

/**
 * A client over `servers` (tried in order) with `timeout` for a whole question: each server gets an even
 * share of what is left of it, so a silent first server does not use up the time of the next. Every
 * exchange has its own socket and a random id; closing the scope closes the sockets still open and fails
 * their lookups (`error`, `ECANCELED`).
 */
export const make = (
  servers: ReadonlyArray<Server>,
  timeout: Duration.Duration
): Effect.Effect<Ask, never, Scope.Scope> =>
  Effect.gen(function*() {
    const inFlight = new Set<() => void>()
    const track = (abort: () => void) => {
      inFlight.add(abort)
      return () => void inFlight.delete(abort)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => [...inFlight].forEach((abort) => abort())))

    const failure = (question: Question, outcome: DnsOutcome, code: string, received?: number) =>
      new DnsLookupError({
        outcome,
        name: question.name,
        rrtype: question.type,
        code,
        ...(received === undefined ? {} : { received })
      })

    /** One exchange, bounded by `deadline` (epoch ms). */
    const exchange = (server: Server, question: Question, transport: "udp" | "tcp", deadline: number) =>
      Effect.suspend(() => {
        const id = randomInt(0, 65_536)
        const query = encodeQuery(id, question)
        const accept = (reply: Parameters<typeof answers>[0]) => answers(reply, id, question)
        return sendQuery(transport, server, query, accept, track, deadline - Date.now()).pipe(
          Effect.mapError((error: TransportError) =>
            failure(question, transportOutcome(error.code), `${error.code} ${transport} ${formatServer(server)}`)
          ),
          Effect.map((reply) => verdict(reply, question, transport))
        )
      })

    /** UDP, then TCP when truncated, both within `budget` ms of now. */
    const askServer = (server: Server, question: Question, budget: number) =>
      Effect.suspend(() => {
        const deadline = Date.now() + budget
        return exchange(server, question, "udp", deadline).pipe(
          Effect.flatMap((first) =>
            first._tag === "RetryOverTcp" ? exchange(server, question, "tcp", deadline) : Effect.succeed(first)
          )
        )
      }).pipe(
        Effect.flatMap((result) => {
          switch (result._tag) {
            case "Records":
              return Effect.succeed({
                records: result.records,
                otherOwner: result.otherOwner,
                extraAddresses: result.extraAddresses
              })
            case "Failure":
              return Effect.fail(failure(question, result.outcome, result.code, result.received))
            case "RetryOverTcp":
              return Effect.fail(failure(question, "error", "TC over TCP"))
          }
        })
      )

    const ask: Ask = (question) =>
      Effect.gen(function*() {
        if (servers.length === 0) return yield* failure(question, "error", "no DNS servers")
        // Sockets and their timers run on the wall clock, so the deadline does too.
        const deadline = Date.now() + Duration.toMillis(timeout)
        let last: DnsLookupError | undefined
        for (const [i, server] of servers.entries()) {
          const left = Math.max(1, deadline - Date.now())
          const result = yield* Effect.result(askServer(server, question, left / (servers.length - i)))
          if (Result.isSuccess(result)) return result.success
          // An answer (NXDOMAIN, no data) ends the lookup; a failure lets the next server try. A truncated
          // answer is reported even when a later server fails otherwise: it says the set exists but does not fit.
          if (result.failure.isAnswer) return yield* result.failure
          if (last?.outcome !== "truncated") last = result.failure
        }
        return yield* last!
      })
    return ask
  })
