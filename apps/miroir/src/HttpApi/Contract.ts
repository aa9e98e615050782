/**
 * The HTTP API of a pod, declared once: its paths, methods, the `shards` parameter, the Schema of every
 * JSON body and every error (400, 404, 405, 503). The server (Server.ts) is built from this declaration
 * and the client (Client.ts) is derived from it, so that what a pod answers and what the auditor, the
 * simulator, the benchmarks and the tests read cannot drift apart.
 *
 * Every endpoint but one only reads, and `POST /hints` only makes discovery look up DNS sooner (see
 * PeerHints.ts): nothing here changes the pod's state, and no GET or HEAD does anything but read. The
 * pod's leave is its own: only the admin listener on its loopback starts it (AdminApi/Contract.ts). This
 * module imports neither the server nor the client: tools import it alone.
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware } from "effect/http-api"
import { MAX_SHARDS } from "../AppConfig.js"

/** The JSON body of `GET /peers`. */
export const PeersBody = Schema.Struct({
  self: Schema.String,
  /** Sorted. */
  peers: Schema.Array(Schema.String),
  /** ISO-8601 time of the last DNS answer; null before the first. */
  refreshedAt: Schema.NullOr(Schema.String),
  stale: Schema.Boolean,
  selfInDns: Schema.Boolean,
  /** Digest of the view (PeerSet.digest): pods that agree on their peers show the same one. */
  digest: Schema.String
})

/**
 * The JSON body of `GET /ownership`. The ownership audit reads peers' answers with it too; decoding
 * ignores fields it does not know, so that a newer pod still answers an older auditor.
 */
export const OwnershipBody = Schema.Struct({
  self: Schema.String,
  peers: Schema.Array(Schema.String),
  /** Digest of the view the shards were computed over. */
  digest: Schema.String,
  shards: Schema.Int,
  /** Ascending. */
  owned: Schema.Array(Schema.Int)
})

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * One ownership audit's findings (OwnershipAudit.evaluate), as `GET /ownership/audit` carries them.
 * Lists hold at most OwnershipAudit.MAX_LISTED items; the counts are complete.
 */
export const AuditReport = Schema.Struct({
  /** The auditor's id. */
  auditor: Schema.String,
  /** ISO-8601 time the audit finished. */
  at: Schema.String,
  durationMs: Schema.Number,
  /** Shards `0 … shards - 1` were audited (the auditor's `MIROIR_SHARDS`). */
  shards: Count,
  /** The auditor's view's digest. */
  digest: Schema.String,
  /** Peers in the auditor's view, itself included. */
  peersAsked: Count,
  /** Of those, the ones that answered (the auditor included). */
  answered: Count,
  /** True when there is nothing below. */
  ok: Schema.Boolean,
  /** Shards no answering pod claims, other than those of peers that did not answer. */
  unowned: Schema.Struct({ count: Count, shards: Schema.Array(Count) }),
  /** Shards claimed by more than one pod, with the pods (as asked). */
  multiOwned: Schema.Struct({
    count: Count,
    shards: Schema.Array(Schema.Struct({ shard: Count, owners: Schema.Array(Schema.String) }))
  }),
  /** Shards the auditor's view gives to peers that did not answer: nobody knows who works on them. */
  unknownShards: Count,
  /** Peers that did not answer, and why. */
  unreachable: Schema.Struct({
    count: Count,
    peers: Schema.Array(Schema.Struct({ peer: Schema.String, reason: Schema.String }))
  }),
  /** The views among the answers, most common first. */
  views: Schema.Struct({
    distinct: Count,
    views: Schema.Array(Schema.Struct({
      digest: Schema.String,
      /** Pods holding this view. */
      pods: Count,
      /** Peers in this view. */
      peers: Count,
      /** A few of the pods holding it (as asked). */
      heldBy: Schema.Array(Schema.String)
    }))
  }),
  /** Peers that answered under another id than the one asked. */
  identityMismatches: Schema.Struct({
    count: Count,
    peers: Schema.Array(Schema.Struct({ peer: Schema.String, answeredAs: Schema.String }))
  })
})

/** The JSON body of `GET /ownership/audit`. */
export const AuditBody = Schema.Struct({
  self: Schema.String,
  /** See OwnershipAudit.AuditState. */
  status: Schema.Literals(["disabled", "pending", "audited", "not-auditor"]),
  /** The auditor in this pod's view (the owner of the audit key); null while disabled. */
  auditor: Schema.NullOr(Schema.String),
  /** Seconds between audits; null while disabled. */
  intervalSeconds: Schema.NullOr(Schema.Number),
  /** What the status means, in a sentence. */
  message: Schema.String,
  /** This pod's last audit; null if it has not audited. */
  last: Schema.NullOr(AuditReport)
})

/** The JSON body of `POST /hints`, sent by PeerHints and received by the server. */
export const HintBody = Schema.Struct({
  kind: Schema.Literals(["joined", "left"]),
  /** The id of the peer the hint is about (the sender itself), as DNS lists it. */
  peer: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(253))
})

/** The JSON answer to `POST /hints`: what became of the hint (`off` when `MIROIR_PEER_HINTS=off`). */
export const HintAnswer = Schema.Struct({
  result: Schema.Literals(["following", "pending", "agreed", "full", "off"])
})

/** The JSON body of `GET /healthz` and `GET /readyz`. */
export const StatusBody = Schema.Struct({ status: Schema.Literals(["ok", "ready"]) })

/**
 * The shape shared by every error answer (400, 404, 405, 413, 503): `error` says what happened in a
 * sentence; each error below adds the fields it needs. A value received is quoted whole only up to 64
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

// The errors are classes: the client decodes each status into its class, and their `_tag` (for
// Effect.catchTag) and `message` are getters, not fields, so that the JSON is ErrorBody's, with no `_tag`.
// A class's schema accepts only its own instances, so the server encodes each error with its own schema
// and status, whatever fields the others share.

/** 400: a query parameter or a body the endpoint does not accept. */
export class BadRequest extends Schema.Class<BadRequest>("BadRequest")(
  { error: ErrorBody.fields.error, parameter: ErrorBody.fields.parameter, value: ErrorBody.fields.value },
  { httpApiStatus: 400 }
) {
  get _tag(): "BadRequest" {
    return "BadRequest"
  }
  get message(): string {
    return this.error
  }
}

/** 404: no such path; `paths` lists those served. */
export class NotFound extends Schema.Class<NotFound>("NotFound")(
  { error: Schema.String, paths: Schema.Array(Schema.String) },
  { httpApiStatus: 404 }
) {
  get _tag(): "NotFound" {
    return "NotFound"
  }
  get message(): string {
    return this.error
  }
}

/** 405: a path served, another method; the answer's `Allow` header says the same as `allowed`. */
export class MethodNotAllowed extends Schema.Class<MethodNotAllowed>("MethodNotAllowed")(
  { error: Schema.String, allowed: Schema.Array(Schema.String) },
  { httpApiStatus: 405 }
) {
  get _tag(): "MethodNotAllowed" {
    return "MethodNotAllowed"
  }
  get message(): string {
    return this.error
  }
}

/**
 * 403: a refresh hint from an address that is neither the pod it names nor a peer of this pod's view
 * (`source` is the address it came from): hints are taken only from the pods they are about.
 */
export class Forbidden extends Schema.Class<Forbidden>("Forbidden")(
  { error: Schema.String, source: Schema.String },
  { httpApiStatus: 403 }
) {
  get _tag(): "Forbidden" {
    return "Forbidden"
  }
  get message(): string {
    return this.error
  }
}

/**
 * 415: a body of another type than the endpoint takes (`accepted` lists those it does). A hint is
 * `application/json`, which a browser cannot send to another site without asking first (CORS), unlike a
 * form or `text/plain`.
 */
export class UnsupportedMediaType extends Schema.Class<UnsupportedMediaType>("UnsupportedMediaType")(
  { error: Schema.String, accepted: Schema.Array(Schema.String) },
  { httpApiStatus: 415 }
) {
  get _tag(): "UnsupportedMediaType" {
    return "UnsupportedMediaType"
  }
  get message(): string {
    return this.error
  }
}

/**
 * 413: a body larger than the endpoint reads (`maxBytes`): refused as soon as its `Content-Length` says so,
 * or once that many bytes of a streamed body have arrived, never read whole.
 */
export class PayloadTooLarge extends Schema.Class<PayloadTooLarge>("PayloadTooLarge")(
  { error: Schema.String, maxBytes: Schema.Int },
  { httpApiStatus: 413 }
) {
  get _tag(): "PayloadTooLarge" {
    return "PayloadTooLarge"
  }
  get message(): string {
    return this.error
  }
}

/** 503: too many requests at once or waiting; try again after `retryAfterSeconds` (the `Retry-After` header). */
export class Busy extends Schema.Class<Busy>("Busy")(
  { error: Schema.String, retryAfterSeconds: Schema.Int },
  { httpApiStatus: 503 }
) {
  get _tag(): "Busy" {
    return "Busy"
  }
  get message(): string {
    return this.error
  }
}

/** What a `shards` value must be, after the parameter's name and before the value received. */
export const SHARDS_EXPECTED = `must be an integer from 1 to ${MAX_SHARDS}`

/**
 * The `shards` query parameter of `GET /ownership`: decimal digits only (no sign, exponent or fraction),
 * an integer from 1 to MAX_SHARDS. Its message is what a 400 says, after the parameter's name and before
 * the value received (`shards must be an integer from 1 to 65536, got "abc"`): every way a value can be
 * wrong fails with that one message, never Schema's own wording.
 */
export const Shards = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_SHARDS })),
    SchemaTransformation.transformEffect({
      decode: (text, options) => {
        const shards = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN
        return shards >= 1 && shards <= MAX_SHARDS
          ? Effect.succeed(shards)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: SHARDS_EXPECTED }, text, options))
      },
      encode: (shards) => Effect.succeed(String(shards))
    })
  )
).annotate({ message: SHARDS_EXPECTED })

/**
 * The errors any request to a pod may get, whichever endpoint it asks (declared as a middleware of the API,
 * so that the client decodes them on every endpoint): a 400 when its parameters do not decode (the server
 * answers every decoding failure with {@link BadRequest}, never the platform's empty 400), a 404 on a path
 * not served, a 405 with another method than the path's, a 413 for a body larger than the endpoint reads,
 * and (but the probes) a 503 when the pod holds too many requests already (internal/guardedServer.ts, with
 * the bounds of Limits.ts). The server's implementation is HttpApi/Server.ts's.
 */
export class PodErrors extends HttpApiMiddleware.Service<PodErrors>()("@miroir/miroir/HttpApi/PodErrors", {
  error: [NotFound, MethodNotAllowed, Busy, PayloadTooLarge, BadRequest]
}) {}

/** `GET /peers`: what discovery sees. */
export class PeersGroup extends HttpApiGroup.make("peers")
  .add(HttpApiEndpoint.get("peers", "/peers", { success: PeersBody }))
{}

/** `GET /ownership`, `GET /ownership/audit`: the shards this pod owns, and the cluster-wide audit. */
export class OwnershipGroup extends HttpApiGroup.make("ownership")
  .add(
    HttpApiEndpoint.get("ownership", "/ownership", {
      query: {
        /** Default: the pod's `MIROIR_SHARDS`. */
        shards: Schema.optionalKey(Shards)
      },
      success: OwnershipBody,
      error: BadRequest
    }),
    HttpApiEndpoint.get("audit", "/ownership/audit", { success: AuditBody })
  )
{}

/** `GET /healthz`, `GET /readyz`: liveness and readiness; neither depends on discovery. */
export class ProbesGroup extends HttpApiGroup.make("probes")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: StatusBody }),
    HttpApiEndpoint.get("readyz", "/readyz", { success: StatusBody })
  )
{}

/**
 * `POST /hints`: a peer's refresh hint, which only makes discovery look up DNS sooner. Taken only as
 * `application/json` (else 415) and only from the address of the pod it names or of a peer of this pod's
 * view (else 403); a body over the limit (Limits.HINT_MAX_BYTES) is a {@link PayloadTooLarge}.
 */
export class HintsGroup extends HttpApiGroup.make("hints")
  .add(
    HttpApiEndpoint.post("hint", "/hints", {
      payload: HintBody,
      success: HintAnswer,
      error: [PayloadTooLarge, Forbidden, UnsupportedMediaType, BadRequest]
    })
  )
{}

/** The pod API: its groups, and the errors of {@link PodErrors} on every endpoint. */
export class PodApi extends HttpApi.make("miroir-pod")
  .add(PeersGroup, OwnershipGroup, ProbesGroup, HintsGroup)
  .middleware(PodErrors)
{}

/** The method each served path answers, from the declaration. */
export const methods: ReadonlyMap<string, string> = new Map(
  Object.values(PodApi.groups).flatMap((group) =>
    Object.values(group.endpoints).map((endpoint): [string, string] => [endpoint.path, endpoint.method])
  )
)

/** The paths served. */
export const paths: ReadonlyArray<string> = [...methods.keys()]
