/**
 * The bounds of the pod's HTTP server (Server.ts builds it with them; internal/guardedServer.ts enforces
 * them): how many connections and requests it takes at once, how long a slow client may take, how large
 * a body it reads. Each is chosen so that whatever arrives — thousands of connections that send nothing,
 * dribble their headers or bodies, never read their answers — the pod's memory stays within the chart's
 * heap (`--max-old-space-size=128`) and the kubelet's probes keep their answers within its 2 s timeout.
 *
 * The costs they bound, measured (BENCHMARKS.md §5, Node 20, the chart's heap): 1,024 connections that
 * send nothing but a line of headers cost the pod up to 13 MB of heap and as much resident memory; 256
 * requests held by the application (each with its fiber and the platform's and Node's request and
 * response) with 1,024 connections, 15–20 MB of heap. The pod idles at 28–31 MB of heap; under floods past
 * every limit below it reached 59 MB at most, half the heap left free.
 */

/**
 * Connections open at once beyond which a new one is closed as it arrives (counted as
 * `connections_total`), unless its source holds fewer than {@link LIGHT_SOURCE_CONNECTIONS} (see
 * {@link RESERVED_CONNECTIONS}). A pod's legitimate clients hold a handful: the kubelet's probes, the
 * auditor, its peers' hints, an operator's curl. The 2,000 held requests that killed a pod (issue 18)
 * cost about 110 MB of heap; a thousand idle connections cost at most 13 MB.
 */
export const MAX_CONNECTIONS = 1024

/**
 * Connections one source address may hold at once; more are closed as they arrive (counted as
 * `connections_per_source`). So that one client cannot take {@link MAX_CONNECTIONS} by itself: it takes
 * eight.
 */
export const MAX_CONNECTIONS_PER_SOURCE = 128

/**
 * Connections a source holding fewer than {@link LIGHT_SOURCE_CONNECTIONS} may still open when
 * {@link MAX_CONNECTIONS} are open. The kubelet probes from its node's address with a new connection per
 * probe, so it is such a source: those who fill the pod cannot shut the probes out unless they come from
 * dozens of addresses at once (64 sources holding 1 to 3 connections each, past the 1,024).
 */
export const RESERVED_CONNECTIONS = 64

/** Connections below which a source may use {@link RESERVED_CONNECTIONS}: the liveness and readiness probes, and one spare. */
export const LIGHT_SOURCE_CONNECTIONS = 4

/**
 * Connections each of the pod's small listeners — the probes' (ProbeServer.ts, `MIROIR_PROBE_PORT`) and
 * `/metrics` (`MIROIR_METRICS_PORT`) — takes at once; it also holds at most this many requests. Their
 * clients hold one or two (the kubelet one per probe under way, three at most; a Prometheus one per
 * scrape). Past them a connection is closed as it arrives, so that a flood of these ports costs next to
 * nothing: internal/sideServer.ts.
 */
export const SIDE_LISTENER_MAX_CONNECTIONS = 32

/** Connections one source address may hold on each small listener (see {@link SIDE_LISTENER_MAX_CONNECTIONS}). */
export const SIDE_LISTENER_MAX_CONNECTIONS_PER_SOURCE = 8

/**
 * Requests held at once — waiting for their turn plus being served, until the answer has been handed to
 * the kernel or the connection closed — for every path but the probes. A request past it gets the API's
 * 503 (`Busy`, `Retry-After`) at once (counted as `requests_held`). At 50–80 KB each, 256 cost 15–20 MB
 * of heap; a pod's own traffic is a few at once (the `/ownership` gate, RequestGate.ts, serves 8 and
 * queues 64).
 */
export const MAX_HELD_REQUESTS = 256

/**
 * Requests handed to the application per turn of the event loop (internal/guardedServer.ts says why):
 * a probe that arrives behind a burst waits for one batch at most.
 */
export const REQUESTS_PER_TURN = 16

/**
 * Requests one connection may have under way at once (sent ahead of the answers to the previous ones:
 * HTTP/1.1 pipelining); one more closes the connection (counted as `pipelined`). No client of a pod
 * pipelines (fetch, Node's agents, curl and Go's client send one request at a time on a connection), but
 * Node parses every request of a read before any is answered: unbounded, a connection that pipelines a
 * thousand requests and never reads would hold their refusals, about 4 KB each.
 */
export const MAX_PIPELINED_REQUESTS = 4

/**
 * Connections the kernel completes and queues before the server accepts them (the `listen` backlog; the
 * kernel caps it at `net.core.somaxconn`, 4096 by default). Node's default, 511, overflows under a burst of
 * thousands of connections, and a probe's connection caught in the overflow waits for its SYN's
 * retransmission, a second or more. Queued connections cost the kernel, not the heap; the server then
 * refuses those past its limits as it accepts them.
 */
export const LISTEN_BACKLOG = 4096

/**
 * Node's `headersTimeout`: a connection whose request headers have not all arrived within it, from its
 * first byte (or from the connection, for one that sends nothing), is answered 408 and closed (counted as
 * `request_timeout`). Node's default is 60 s. Every legitimate client sends its headers in one packet; 10 s
 * covers a congested network and bounds what a slow-header client holds: a connection for 10–11 s.
 */
export const HEADERS_TIMEOUT_MS = 10_000

/**
 * Node's `requestTimeout`: a request whose body has not all arrived within it, from its first byte, is
 * cut off (408 if no answer was sent yet; counted as `request_timeout`). Node's default is 300 s. The only
 * body is a hint's (about 60 bytes, at most {@link HINT_MAX_BYTES}): 5 s past the headers' bound is ample.
 * It also bounds how long Node keeps discarding a refused body the client keeps sending after its 413.
 */
export const REQUEST_TIMEOUT_MS = 15_000

/**
 * Node's `keepAliveTimeout`: an idle connection between two requests is closed after it (Node adds 1 s
 * to what it announces). Node's default, 5 s: long enough for a client's next request, short enough that
 * idle connections do not pile up against {@link MAX_CONNECTIONS}.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000

/**
 * Node's `connectionsCheckingInterval`: how often Node checks {@link HEADERS_TIMEOUT_MS} and
 * {@link REQUEST_TIMEOUT_MS}, hence how late it may enforce them. Node's default is 30 s, which would let
 * a slow-header client hold its connection for up to 40 s rather than 10. Each check walks the
 * connections with a request under way, at most {@link MAX_CONNECTIONS} + {@link RESERVED_CONNECTIONS}:
 * a few microseconds a second.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000

/**
 * A connection on which nothing was read or written for this long is closed (counted as `idle_timeout`
 * when an answer was under way): a client that asked for an answer and does not read it, which
 * otherwise holds its request (against {@link MAX_HELD_REQUESTS}) and the unsent part of its answer for
 * as long as it likes. Node's default is none. Longer than anything the application waits for before
 * answering (RequestGate.ts: 5 s).
 */
export const IDLE_SOCKET_TIMEOUT_MS = 10_000

/**
 * The largest `POST /hints` body read, in bytes; a larger one gets a 413 (`PayloadTooLarge`; counted as
 * `body_too_large`) as soon as its `Content-Length` says so, or once that many bytes of a streamed body
 * have arrived. A hint is about 60 bytes.
 */
export const HINT_MAX_BYTES = 1024

/** The timeouts above as the guarded servers take them (the API's, the probes' and /metrics' listeners). */
export const TIMEOUTS = {
  headers: HEADERS_TIMEOUT_MS,
  request: REQUEST_TIMEOUT_MS,
  keepAlive: KEEP_ALIVE_TIMEOUT_MS,
  checkingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
  idle: IDLE_SOCKET_TIMEOUT_MS
} as const
