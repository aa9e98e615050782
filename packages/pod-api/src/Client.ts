/**
 * The client of the pods' HTTP API, derived from the declaration (PodApi.ts) by HttpApiClient: every
 * request is built, and every answer decoded, by the contract's Schemas, errors included (a 503 fails
 * with PodError's Busy, a 400 with its BadRequest). A pod asks its peers with it; the simulator, the
 * benchmarks and the tests ask pods from outside.
 *
 * One client serves every pod: a call asks the pod whose base URL {@link at} gives it (baseUrl.ts).
 * Deriving a client builds the decoders of every answer (milliseconds of CPU), too much to do per pod asked.
 */
import { Context, Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { PodApi } from "./PodApi.js"

/** The base URL of the pod a call asks (`http://127.0.0.12:7700`): see {@link at}. */
export class PodUrl extends Context.Service<PodUrl, string>()("@miroir/pod-api/PodUrl") {}

/**
 * The client over the HttpClient in context (Node's in the pod, `fetch` in tools, a fake in tests):
 * derive it once and keep it.
 */
export const make = Effect.flatMap(HttpClient.HttpClient, (httpClient) =>
  HttpApiClient.makeWith(PodApi, {
    httpClient: HttpClient.mapRequestEffect(httpClient, (request) =>
      Effect.map(PodUrl, (baseUrl) => HttpClientRequest.prependUrl(request, baseUrl)))
  }))

/**
 * The client: `peers.peers()`, `ownership.ownership({ query: { shards } })`, `ownership.audit()`,
 * `probes.healthz()`, `probes.readyz()`, `hints.hint({ payload })`; each call needs a {@link PodUrl}.
 */
export type Client = Effect.Success<typeof make>

/** The client as a service. */
export class PodClient extends Context.Service<PodClient, Client>()("@miroir/pod-api/PodClient") {}

/** Makes `call` ask the pod at `baseUrl`. */
export const at =
  (baseUrl: string) => <A, E, R>(call: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, PodUrl>> =>
    Effect.provideService(call, PodUrl, baseUrl)

/** The client over the HttpClient in context (the pod's: Node's, through undici). */
export const layer: Layer.Layer<PodClient, never, HttpClient.HttpClient> = Layer.effect(PodClient, make)

/**
 * The client over `fetch`, for tools and tests that have no HttpClient of their own. The `fetch` it calls
 * is taken from the context at each request (FetchHttpClient.Fetch), so a caller can bound its reads
 * with a deadline of their own (the simulator's Observer does).
 */
export const layerFetch: Layer.Layer<PodClient> = layer.pipe(Layer.provide(FetchHttpClient.layer))
