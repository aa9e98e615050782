/**
 * The HTTP API of a pod, declared once: its paths, methods, the `shards` parameter (Shards.ts), the Schema
 * of every JSON body (Bodies.ts) and every error (PodError.ts: 400, 403, 404, 405, 413, 415, 503). The pod's
 * server is built from this declaration and the client (Client.ts) is derived from it, so that what a pod
 * answers and what its peers, the simulator, the benchmarks and the tests read cannot drift apart.
 *
 * Every endpoint but one only reads, and `POST /hints` only makes discovery look up DNS sooner: nothing here
 * changes the pod's state, and no GET or HEAD does anything but read. The pod's leave is its own: only an
 * admin listener on the pod's loopback starts it, which is no part of this API.
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware } from "effect/http-api"
import {
  AuditBody,
  HintAnswer,
  HintBody,
  OwnershipBody,
  PeersBody,
  PingAnswer,
  ProbeAnswer,
  StatusBody
} from "./Bodies.js"
import {
  BadRequest,
  Busy,
  Forbidden,
  MethodNotAllowed,
  NotFound,
  PayloadTooLarge,
  ProbingOff,
  UnsupportedMediaType
} from "./PodError.js"
import { Shards } from "./Shards.js"
import { SilentForMs } from "./SilentFor.js"

/**
 * The errors any request to a pod may get, whichever endpoint it asks (declared as a middleware of the API,
 * so that the client decodes them on every endpoint): a 400 when its parameters do not decode (the server
 * answers every decoding failure with {@link BadRequest}, never the platform's empty 400), a 404 on a path
 * not served, a 405 with another method than the path's, a 413 for a body larger than the endpoint reads,
 * and (but the probes) a 503 when the pod holds too many requests already.
 */
export class PodErrors extends HttpApiMiddleware.Service<PodErrors>()("@miroir/pod-api/PodErrors", {
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
 * `GET /ping`, `GET /probe?peer=<id>`: the failure detector's probes. A ping is answered at once, before
 * any queue, as the kubelet's probes are, with the peers the pod holds down ({@link PingAnswer}): a pod
 * learns from its peers' answers whether they hold it down although it reaches them. A ping from the
 * address of a peer of the pod's view tells the pod that this peer still reaches it (it does not fence
 * itself while its peers ping it); one from any other address changes nothing. A probe asks this pod to
 * ping one of its peers for the asker (only a peer DNS lists, asked only from the address of a peer of
 * this pod's view, else 400 or 403; 501 when this pod's failure detector is off); it changes nothing but
 * this pod's own verdict of the peer it pinged, which rests on its own ping, counted as older by
 * `silentForMs` when the asker gives it (how long the peer has not answered the asker, SilentFor.ts).
 */
export class PingGroup extends HttpApiGroup.make("ping")
  .add(
    HttpApiEndpoint.get("ping", "/ping", { success: PingAnswer }),
    HttpApiEndpoint.get("probe", "/probe", {
      query: { peer: Schema.String.check(Schema.isMaxLength(253)), silentForMs: Schema.optionalKey(SilentForMs) },
      success: ProbeAnswer,
      error: [BadRequest, Forbidden, ProbingOff]
    })
  )
{}

/**
 * `POST /hints`: a peer's refresh hint, which only makes discovery look up DNS sooner. Taken only as
 * `application/json` (else 415) and only from the address of the pod it names or of a peer of this pod's
 * view (else 403); a body over the pod's limit (1 KB; a hint is about 60 bytes) is a {@link PayloadTooLarge}.
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
  .add(PeersGroup, OwnershipGroup, ProbesGroup, PingGroup, HintsGroup)
  .middleware(PodErrors)
{}

/**
 * The method each path of `api` answers, from its declaration: what a server answers a request no route
 * takes with (a 404 naming the paths, or a 405 with the path's method). The pod's admin API uses it too.
 */
export const methodsOf = (api: {
  readonly groups: Readonly<
    Record<string, { readonly endpoints: Readonly<Record<string, { readonly path: string; readonly method: string }>> }>
  >
}): ReadonlyMap<string, string> =>
  new Map(
    Object.values(api.groups).flatMap((group) =>
      Object.values(group.endpoints).map((endpoint): [string, string] => [endpoint.path, endpoint.method])
    )
  )

/** The method each served path answers, from the declaration. */
export const methods: ReadonlyMap<string, string> = methodsOf(PodApi)

/** The paths served. */
export const paths: ReadonlyArray<string> = [...methods.keys()]
