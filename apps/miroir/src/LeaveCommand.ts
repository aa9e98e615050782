/**
 * `miroir leave [--delay 5s]`: the pod's leave, started from inside the pod, as the chart's preStop hook
 * runs it (`exec: node /app/miroir.mjs leave --delay 5s`). It reads where the admin listener is from the
 * environment (`MIROIR_ADMIN_HOST`, `MIROIR_ADMIN_PORT`: an exec hook inherits the container's), asks it
 * for the leave (`POST /leave?delay=…`, AdminApi/), waits for the answer, which comes once the leave and
 * the delay are both over, prints one line and exits 0.
 *
 * Why it waits out the delay even when it fails: the kubelet sends SIGTERM when the hook ends, and the
 * delay is what keeps the pod serving while its removal from the endpoints reaches kube-proxy and the
 * other pods (as the preStop sleep did). So when the pod cannot be reached or answers an error, the
 * command still sleeps what is left of the delay (counted from its own start), then exits 1 with one
 * line on stderr saying why; the kubelet reports that line in its FailedPreStopHook event.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ConfigVariable } from "@miroir/peer-discovery"
import type { HttpApiError, HttpClientError } from "@effect/platform"
import { Clock, Console, Data, Duration, Effect, Either, type ParseResult, Schema } from "effect"
import * as AdminClient from "./AdminApi/Client.js"
import { type LeaveAnswer, LeaveDelay, MAX_LEAVE_DELAY_SECONDS } from "./AdminApi/Contract.js"
import * as AppConfig from "./AppConfig.js"
import type { BadRequest, MethodNotAllowed, NotFound } from "./HttpApi/Contract.js"

/** The errors the admin API declares (the pod API's). */
type AdminError = BadRequest | NotFound | MethodNotAllowed | HttpApiError.HttpApiDecodeError

/**
 * The longest a leave takes in the pod (PeerHints.ts: at most 2 s waiting for DNS to drop it, 1 s of
 * hints): the answer comes after the delay or that, whichever is longer.
 */
const LEAVE_BOUND = Duration.seconds(3)

/**
 * How much longer than that the command waits for the answer before it gives up: enough for a busy pod,
 * and short enough that the chart's grace period (at least the delay + 8 s) still leaves the process
 * seconds to exit after SIGTERM.
 */
const ANSWER_MARGIN = Duration.seconds(4)

/** A leave that did not happen as asked; its message is the line printed on stderr. */
export class LeaveFailed extends Data.TaggedError("LeaveFailed")<{ readonly reason: string }> {
  override get message(): string {
    return `miroir leave: ${this.reason}`
  }
}

/** The line printed for an answer. */
const describe = (answer: typeof LeaveAnswer.Type): string => {
  const took = `answered after ${(answer.tookMs / 1000).toFixed(2)} s`
  switch (answer.result) {
    case "left":
      return `miroir leave: left: DNS no longer lists this pod; its peers were told and it resigned its shards (${took})`
    case "listed":
      return `miroir leave: listed: DNS still lists this pod, so nothing was sent and it keeps its shards; the next leave (SIGTERM) runs again (${took})`
    case "off":
      return `miroir leave: off: refresh hints are off (MIROIR_PEER_HINTS=off); the pod only waited the delay (${took})`
  }
}

/** Why a request failed, in words: for a transport error its cause (ECONNREFUSED …), for an answer its status. */
const reasonOf = (url: string, error: HttpClientError.HttpClientError | ParseResult.ParseError | AdminError) => {
  switch (error._tag) {
    case "RequestError": {
      const cause = error.cause instanceof Error ? error.cause.message : String(error.cause ?? error.message)
      return `cannot reach the pod's admin listener at ${url}: ${cause}`
    }
    case "ResponseError":
      return `the pod's admin listener at ${url} answered HTTP ${error.response.status}, not a leave`
    case "BadRequest":
    case "NotFound":
    case "MethodNotAllowed":
    case "HttpApiDecodeError":
      return `the pod's admin listener at ${url} refused the leave: ${error.message}`
    case "ParseError":
      return `the pod's admin listener at ${url} gave an answer that is not a leave's: ${error.message}`
  }
}

/**
 * Asks the pod's admin listener for its leave with `delay`, and prints the answer. Fails with
 * {@link LeaveFailed} (after what is left of the delay) when the configuration is invalid, the listener
 * cannot be reached, or it answers an error or not within the delay (or the leave's bound) and a margin.
 */
export const leave = (delay: Duration.Duration): Effect.Effect<void, LeaveFailed> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const deadline = Duration.sum(Duration.max(delay, LEAVE_BOUND), ANSWER_MARGIN)
    const asked = Effect.gen(function*() {
      const { adminHost, adminPort } = yield* ConfigVariable.load(AppConfig.adminConfig).pipe(
        Effect.mapError((error) => new LeaveFailed({ reason: error.message }))
      )
      const url = AdminClient.baseUrl(adminHost, adminPort)
      const client = yield* AdminClient.make(url)
      return yield* client.lifecycle.leave({ urlParams: { delay } }).pipe(
        Effect.mapError((error) => new LeaveFailed({ reason: reasonOf(url, error) })),
        Effect.timeoutFail({
          duration: deadline,
          onTimeout: () =>
            new LeaveFailed({
              reason: `the pod's admin listener at ${url} did not answer within ${Duration.format(deadline)}`
            })
        })
      )
    }).pipe(
      // node:http, not fetch: fetch gives up on an answer after 300 s, and a delay may be up to an hour.
      Effect.provide(NodeHttpClient.layer),
      Effect.either
    )
    const answer = yield* asked
    if (Either.isRight(answer)) return yield* Console.log(describe(answer.right))
    const elapsed = Duration.millis((yield* Clock.currentTimeMillis) - started)
    yield* Effect.sleep(Duration.max(Duration.zero, Duration.subtract(delay, elapsed)))
    return yield* Effect.fail(answer.left)
  })

/** `--delay`: checked as the admin listener checks it, so that a typo fails at once and says what it expected. */
const delayOption = Options.text("delay").pipe(
  Options.withPseudoName("DURATION"),
  Options.mapEffect((text) =>
    Either.match(Schema.decodeEither(LeaveDelay)(text), {
      onLeft: () =>
        Effect.fail(
          ValidationError.invalidValue(
            HelpDoc.p(
              `--delay must be a duration such as 5s or 500ms, from 0s to ${MAX_LEAVE_DELAY_SECONDS}s, got ${
                JSON.stringify(text)
              }`
            )
          )
        ),
      onRight: Effect.succeed
    })
  ),
  Options.withDefault(Duration.zero),
  Options.withDescription(
    "how long the answer waits at least, as the preStop sleep it replaces: such as 5s or 500ms (default 0s)"
  )
)

/** The `leave` command. */
export const command = Command.make("leave", { delay: delayOption }, ({ delay }) => leave(delay)).pipe(
  Command.withDescription(
    "Starts this pod's leave through its admin listener (MIROIR_ADMIN_HOST:MIROIR_ADMIN_PORT) and waits " +
      "for the answer, which comes once the leave and the delay are over: the chart's preStop hook."
  )
)
