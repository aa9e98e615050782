/**
 * The errors of the pod API, each made by one factory ({@link PodError}): a Schema class whose JSON is
 * {@link ErrorBody}'s — `error`, a sentence, and the fields the error adds — with its HTTP status, and that
 * builds its own answer (status, JSON body, the headers its fields say), whether the HttpApi builder
 * encodes it, the router's middleware refuses a request with it, or a plain Node server writes its bytes.
 */
import { Effect, Schema } from "effect"
import { HttpServerRespondable, HttpServerResponse } from "effect/http"

/**
 * The shape shared by every error answer (400, 403, 404, 405, 413, 415, 501, 503): `error` says what happened in
 * a sentence; each error below adds the fields it needs. A value received is quoted whole only up to 64
 * characters; past that, its first 64, an ellipsis and its length (`"abc…" (16000 characters)`), so that
 * no answer grows with what it refuses.
 */
export const ErrorBody = Schema.Struct({
  error: Schema.String,
  /** The query parameter at fault (400). */
  parameter: Schema.optional(Schema.String),
  /**
   * Its value as received (400), null when absent; past 64 characters, its first 64, an ellipsis and its
   * length (`abc… (16000 characters)`).
   */
  value: Schema.optional(Schema.NullOr(Schema.String)),
  /** The methods allowed on the path (405). */
  allowed: Schema.optional(Schema.Array(Schema.String)),
  /** The paths served (404). */
  paths: Schema.optional(Schema.Array(Schema.String)),
  /** The content types accepted (415). */
  accepted: Schema.optional(Schema.Array(Schema.String)),
  /** The address the refused request came from (403). */
  source: Schema.optional(Schema.String),
  /** The largest body the endpoint reads, in bytes (413). */
  maxBytes: Schema.optional(Schema.Int),
  /** Seconds to wait before trying again (503), as the `Retry-After` header says. */
  retryAfterSeconds: Schema.optional(Schema.Int)
})

/**
 * The class of an error of the pod API: `class Busy extends PodError<Busy>()("Busy", 503, { … }) {}`.
 *
 * `_tag` (for `Effect.catchTag`) and `message` are getters, not fields, so that the JSON is
 * {@link ErrorBody}'s, with no `_tag`. A class's schema accepts only its own instances, so the client
 * decodes each status into its class and an error encodes with its own schema, whatever fields the others
 * share. `headers` gives the answer's headers from the error's fields (`Allow`, `Retry-After`).
 */
export const PodError = <Self>() =>
<const Tag extends string, const Fields extends Schema.Struct.Fields>(
  tag: Tag,
  status: number,
  fields: Fields,
  headers?: (error: Schema.Struct.Type<Fields>) => Readonly<Record<string, string>>
): Schema.Class<Self, Schema.Struct<{ readonly error: Schema.String } & Fields>, Answer<Tag>> => {
  // Typed by the signature above: TypeScript cannot extend a class whose fields are still a type parameter.
  const Fields = Schema.Class<unknown>(tag)({ error: Schema.String, ...fields }, { httpApiStatus: status }) as any
  // Made from the final class (`Busy`), at its first use: a class's schema is built once, for the first
  // class it is asked of, and must be the final one for decoding to make instances of it.
  let encode: ((error: unknown) => unknown) | undefined
  class Base extends Fields implements Answer<Tag> {
    get _tag(): Tag {
      return tag
    }
    get message(): string {
      return this.error
    }
    get status(): number {
      return status
    }
    get json(): string {
      encode ??= Schema.encodeUnknownSync(this.constructor as unknown as Schema.Codec<unknown, unknown>)
      return JSON.stringify(encode(this))
    }
    get response(): HttpServerResponse.HttpServerResponse {
      return HttpServerResponse.text(this.json, {
        status,
        contentType: "application/json",
        headers: headers?.(this as unknown as Schema.Struct.Type<Fields>) ?? {}
      })
    }
    [HttpServerRespondable.symbol]() {
      return Effect.succeed(this.response)
    }
  }
  return Base as any
}

/** What every error of the pod API adds to its fields: its tag and message, and its own answer. */
export interface Answer<Tag extends string> extends HttpServerRespondable.Respondable {
  /** The error's tag, for `Effect.catchTag`. */
  readonly _tag: Tag
  /** The sentence of the answer's `error`. */
  readonly message: string
  /** The HTTP status of the answer. */
  readonly status: number
  /** The answer's body: the error as JSON text, encoded with its own schema. */
  readonly json: string
  /** The answer: its status, its JSON body and the headers its fields say (`Allow`, `Retry-After`). */
  readonly response: HttpServerResponse.HttpServerResponse
}

/** 400: a query parameter or a body the endpoint does not accept. */
export class BadRequest extends PodError<BadRequest>()("BadRequest", 400, {
  parameter: ErrorBody.fields.parameter,
  value: ErrorBody.fields.value
}) {}

/**
 * 403: a refresh hint from an address that is neither the pod it names nor a peer of this pod's view
 * (`source` is the address it came from): hints are taken only from the pods they are about.
 */
export class Forbidden extends PodError<Forbidden>()("Forbidden", 403, { source: Schema.String }) {}

/** 404: no such path; `paths` lists those served. */
export class NotFound extends PodError<NotFound>()("NotFound", 404, { paths: Schema.Array(Schema.String) }) {}

/** 405: a path served, another method; the answer's `Allow` header says the same as `allowed`. */
export class MethodNotAllowed extends PodError<MethodNotAllowed>()(
  "MethodNotAllowed",
  405,
  { allowed: Schema.Array(Schema.String) },
  ({ allowed }) => ({ allow: allowed.join(", ") })
) {}

/**
 * 413: a body larger than the endpoint reads (`maxBytes`): refused as soon as its `Content-Length` says so,
 * or once that many bytes of a streamed body have arrived, never read whole.
 */
export class PayloadTooLarge extends PodError<PayloadTooLarge>()("PayloadTooLarge", 413, { maxBytes: Schema.Int }) {}

/**
 * 415: a body of another type than the endpoint takes (`accepted` lists those it does). A hint is
 * `application/json`, which a browser cannot send to another site without asking first (CORS), unlike a
 * form or `text/plain`.
 */
export class UnsupportedMediaType extends PodError<UnsupportedMediaType>()("UnsupportedMediaType", 415, {
  accepted: Schema.Array(Schema.String)
}) {}

/** 503: too many requests at once or waiting; try again after `retryAfterSeconds` (the `Retry-After` header). */
export class Busy extends PodError<Busy>()(
  "Busy",
  503,
  { retryAfterSeconds: Schema.Int },
  ({ retryAfterSeconds }) => ({ "retry-after": String(retryAfterSeconds) })
) {}

/**
 * 501: this pod does not probe peers for others (its failure detector is off: `MIROIR_PEER_PROBE_INTERVAL=off`).
 * A pod asking it counts it as a helper that did not answer, never as a nack.
 */
export class ProbingOff extends PodError<ProbingOff>()("ProbingOff", 501, {}) {}
