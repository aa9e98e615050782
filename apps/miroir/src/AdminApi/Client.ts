/**
 * The client of a pod's admin API, derived from its declaration (Contract.ts) by HttpApiClient, as the
 * pod API's client is: `miroir leave` (LeaveCommand.ts) asks the pod it runs in with it, and tests ask
 * pods they started. Every answer is decoded by the contract's Schemas, errors included (a 400 fails with
 * the pod API's BadRequest).
 */
import type { Effect } from "effect"
import { HttpApiClient } from "effect/http-api"
import { AdminApi } from "./Contract.js"

export { baseUrl } from "@miroir/pod-api/baseUrl"

/** The client of the admin listener at `url` ({@link baseUrl}), over the HttpClient in context. */
export const make = (url: string) => HttpApiClient.make(AdminApi, { baseUrl: url })

/** The client: `lifecycle.leave({ query: { delay } })`. */
export type Client = Effect.Success<ReturnType<typeof make>>
