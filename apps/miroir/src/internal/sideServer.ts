/**
 * A guarded server for the pod's small listeners: the kubelet's probes' (HttpApi/ProbeServer.ts) and
 * Prometheus's `/metrics` (Telemetry.ts). Not API.
 *
 * Why guarded too: a port the pod network can reach is a port a flood can reach. Unguarded, Node keeps
 * a connection that dribbles its headers for 60 s and a request for 300 s, with no bound on how many:
 * thousands of them on `/metrics` would cost the heap what the API's port no longer lets them. Their
 * legitimate clients hold a connection or two (the kubelet, a Prometheus), so the limits are small
 * (Limits.SIDE_LISTENER_*); the timeouts are the API's.
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Busy } from "@miroir/pod-api"
import * as AppMetrics from "../AppMetrics.js"
import * as Limits from "../HttpApi/Limits.js"
import { GuardedServer } from "./guardedServer.js"

/**
 * A server answering `constant` paths (GET) itself and every other request with `handle`, a few at once,
 * within the side listeners' limits; its refusals are counted with the API's
 * (`miroir_http_refused_total`).
 */
export const makeSideServer = (
  constant: Readonly<Record<string, string>>,
  handle: (request: IncomingMessage, response: ServerResponse) => void
): GuardedServer => {
  const server = new GuardedServer({
    constant,
    perTurn: Limits.REQUESTS_PER_TURN,
    maxPipelined: Limits.MAX_PIPELINED_REQUESTS,
    maxHeld: Limits.SIDE_LISTENER_MAX_CONNECTIONS,
    connections: {
      total: Limits.SIDE_LISTENER_MAX_CONNECTIONS,
      perSource: Limits.SIDE_LISTENER_MAX_CONNECTIONS_PER_SOURCE,
      reserve: 0,
      lightSource: 0
    },
    timeouts: Limits.TIMEOUTS,
    busy: new Busy({ error: "busy: too many requests at once; retry after 1 s", retryAfterSeconds: 1 }),
    onRefused: AppMetrics.countRefusal
  })
  server.on("request", handle)
  return server
}
