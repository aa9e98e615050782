/**
 * The pod API's contract, as one namespace (`import * as PodContract from "@miroir/pod-api"`): the
 * declaration (PodApi), its bodies, its errors and the `shards` and `silentForMs` parameters. The derived client is
 * `@miroir/pod-api/Client`.
 */
export * from "./Bodies.js"
export * from "./PodApi.js"
export * from "./PodError.js"
export * from "./Shards.js"
export * from "./SilentFor.js"
