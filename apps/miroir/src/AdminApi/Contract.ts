/**
 * The admin API of a pod, declared once: what only the pod itself may ask of it. It is served on the
 * pod's loopback (`MIROIR_ADMIN_HOST:MIROIR_ADMIN_PORT`, 127.0.0.1:7701 by default: Server.ts), which
 * nothing outside the pod's network namespace can reach, and asked by the pod's own program (`miroir
 * leave`, the chart's preStop exec: LeaveCommand.ts, in plain Node, which says why) and by the tests.
 *
 * Why apart from the pod API (`@miroir/pod-api`): the leave changes the pod's state for good, and on
 * the network-facing port anyone could start it, a browser's `<img>` included (issue 18). Its errors are
 * the pod API's, so that both answer alike. This module does not import the server.
 */
import { Duration, Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware } from "effect/http-api"
import { BadRequest, MethodNotAllowed, methodsOf, NotFound } from "@miroir/pod-api"
import { delayMillis, LEAVE_DELAY_EXPECTED, MAX_LEAVE_DELAY_SECONDS } from "../internal/leaveDelay.js"

/**
 * The JSON answer to `POST /leave`, given once the leave is over and the delay has passed: `left` (DNS no
 * longer listed the pod, the `left` hints went out and it resigned its shards, for good), `listed` (DNS
 * still listed it when its bounded wait ended: nothing sent, shards kept, and the next leave runs again)
 * or `off` (`MIROIR_PEER_HINTS=off`: the pod only waited the delay, its peers would not know to look up).
 * See Leave.ts.
 */
export const LeaveAnswer = Schema.Struct({
  result: Schema.Literals(["left", "listed", "off"]),
  /** Whether DNS listed this pod when the leave ended. */
  selfInDns: Schema.Boolean,
  /** Milliseconds from the request to the answer: at least the delay. */
  tookMs: Schema.Number
})

/**
 * A leave's delay: a whole number of seconds (`5s`) or milliseconds (`500ms`), from 0 to
 * {@link MAX_LEAVE_DELAY_SECONDS} seconds (internal/leaveDelay.ts), decoded to a Duration (encoded in
 * milliseconds). The `delay` query parameter of `POST /leave`. Like the pod API's `shards`, its message is
 * what a 400 says, after the parameter's name and before the value received (`delay must be a duration
 * such as 5s or 500ms, from 0s to 3600s, got "soon"`).
 */
export const LeaveDelay = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transformEffect({
      decode: (text, options) => {
        const millis = delayMillis(text)
        return millis === undefined
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: LEAVE_DELAY_EXPECTED }, text, options))
          : Effect.succeed(Duration.millis(millis))
      },
      encode: (delay) => Effect.succeed(`${Math.round(Duration.toMillis(delay))}ms`)
    })
  )
).annotate({ message: LEAVE_DELAY_EXPECTED })

export { MAX_LEAVE_DELAY_SECONDS }

/**
 * `POST /leave?delay=5s`: the preStop hook's request. Starts this pod's leave (or joins the one under way,
 * or answers the one that completed) and answers when both the leave and the delay are over, so that
 * SIGTERM, which the kubelet sends after the hook, still comes after the delay. A POST: it changes the
 * pod's state, which no GET or HEAD may.
 */
export class LeaveGroup extends HttpApiGroup.make("lifecycle")
  .add(
    HttpApiEndpoint.post("leave", "/leave", {
      query: {
        /** Default: `0s`, an answer as soon as the leave is over. */
        delay: Schema.optionalKey(LeaveDelay)
      },
      success: LeaveAnswer,
      error: BadRequest
    })
  )
{}

/**
 * The errors any request to the admin listener may get (a middleware of the API, so that the client decodes
 * them on every endpoint): like the pod API, a parameter that does not decode gets a {@link BadRequest}
 * naming it, another path a {@link NotFound}, another method a {@link MethodNotAllowed}; nothing is refused
 * as busy. The server's implementation is AdminApi/Server.ts's.
 */
export class AdminErrors extends HttpApiMiddleware.Service<AdminErrors>()("@miroir/miroir/AdminApi/AdminErrors", {
  error: [NotFound, MethodNotAllowed, BadRequest]
}) {}

/** The admin API: its one group, and the errors of {@link AdminErrors} on every endpoint. */
export class AdminApi extends HttpApi.make("miroir-admin")
  .add(LeaveGroup)
  .middleware(AdminErrors)
{}

/** The method each served path answers, from the declaration. */
export const methods: ReadonlyMap<string, string> = methodsOf(AdminApi)

/** The paths served. */
export const paths: ReadonlyArray<string> = [...methods.keys()]
