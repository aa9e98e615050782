/**
 * The floods of issue 18, each past a limit of the pod's HTTP server: what each sends and from where
 * (podFloods.ts runs them).
 */
import type { Flood } from "./floodClient.js"

/** The floods' source addresses: 127.18.2.10 onwards. */
export const floodSources = (count: number, from = 0) =>
  Array.from({ length: count }, (_, i) => `127.18.2.${10 + from + i}`)

/** One flood of podFloods.ts's `runFloods`: what it sends, and for how long the pod is watched. */
export interface FloodCase {
  readonly name: string
  readonly what: string
  /**
   * Whether its process runs niced (default): so that it measures the pod, not the clients' share of two
   * cores. Not niced, it opens its connections as fast as clients elsewhere would, all at once.
   */
  readonly niced?: boolean
  readonly flood: (pod: { readonly host: string; readonly port: number; readonly url: string }) => Flood
}

/** The floods, each past a limit of the pod's HTTP server (apps/miroir/src/HttpApi/Limits.ts). */
export const FLOODS: ReadonlyArray<FloodCase> = [
  {
    name: "slowHeaders",
    what: "1,400 connections sending a request line and one header, then nothing (10 sources × 140)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(10),
      perSource: 140,
      send: "GET /peers HTTP/1.1\r\nHost: pod\r\n",
      holdMs: 13_000
    })
  },
  {
    name: "slowBodies",
    what: "1,024 POST /hints declaring 1,000 bytes and sending one a second (8 sources × 128)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "POST /hints HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
      dribble: " ",
      holdMs: 18_000
    })
  },
  {
    name: "unreadAnswers",
    what: "1,024 GET /ownership?shards=65536 (400 kB each) reading only the first bytes (8 sources × 128)",
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "GET /ownership?shards=65536 HTTP/1.1\r\nHost: pod\r\n\r\n",
      read: "head",
      holdMs: 12_000
    })
  },
  {
    name: "unreadAnswersBurst",
    what:
      "the same, its process not niced: 1,024 connections at once, as fast as clients on other machines would open them",
    niced: false,
    flood: ({ host, port }) => ({
      kind: "crowd",
      host,
      port,
      sources: floodSources(8),
      perSource: 128,
      send: "GET /ownership?shards=65536 HTTP/1.1\r\nHost: pod\r\n\r\n",
      read: "head",
      holdMs: 12_000
    })
  },
  {
    name: "requestsAtOnce",
    what: "3,000 GET /ownership?shards=65536 at once, each on a connection of its own (12 sources × 250)",
    flood: ({ url }) => ({
      kind: "requests",
      url: `${url}/ownership?shards=65536`,
      sources: floodSources(12),
      count: 3000
    })
  },
  {
    name: "largeBodies",
    what: "10 POST /hints of 100 MB each, streamed without a Content-Length, one after the other",
    flood: ({ url }) => ({ kind: "body", url: `${url}/hints`, source: floodSources(1)[0]!, megabytes: 100, count: 10 })
  }
]
