/**
 * A Node HTTP server whose memory and probes stay bounded whatever arrives. Not API: HttpApi/Server.ts
 * (serverLayer) builds it with the numbers of HttpApi/Limits.ts, which say why each is what it is.
 *
 * What it does, in the order a client meets it:
 * - **Connections** past the limits of internal/connectionLimits.ts (in all, per source address) are
 *   closed as they arrive, before Node's HTTP parser sees them.
 * - **Slow clients** are cut off by Node's own timeouts (headers, whole request, keep-alive), checked
 *   every {@link Timeouts.checkingInterval} rather than Node's default 30 s, and by an idle timeout on a
 *   socket where nothing moves: a client that never reads its answer.
 * - **The kubelet's probes** (`GET` of a {@link Options.constant} path) are answered here with constants
 *   (liveness and readiness say only that this process serves), at once: they never wait for the
 *   application nor count against the limits below. A constant path's body may also be read anew at
 *   each request ({@link Body}: the failure detector's ping answers with the peers this pod holds down),
 *   still synchronously, without the application.
 * - **Requests held at once** — waiting for the application plus being served, until the answer has
 *   been handed to the kernel or the connection closed — are at most {@link Options.maxHeld}; past that a
 *   request gets the API's 503 at once. Each held request costs the application tens of kilobytes of
 *   heap, so this is the bound that keeps a flood of slow requests from exhausting it.
 * - **Pacing**: the application gets at most {@link Options.perTurn} requests per turn of the event loop.
 *   Node delivers the requests that arrived together one after the other, each running in the Effect
 *   application until it waits or answers, all in one turn: two hundred at once would hold a probe that
 *   came just after them for the whole burst. Here the probe waits for one batch at most.
 * - **Pipelining** is bounded: a connection with more than {@link Options.maxPipelined} requests under
 *   way is closed.
 * - **No upgrades**: the application's `upgrade` listener (the platform's WebSocket handler) is not
 *   registered, so that a request with an `Upgrade` header is an ordinary request, paced and counted,
 *   rather than one handed to the application past every limit above. Nor is its `checkContinue`
 *   listener: Node then answers `Expect: 100-continue` itself and the request arrives as any other,
 *   through the limits above, instead of straight to the application.
 *
 * Every refusal and cut-off is reported to {@link Options.onRefused} with its reason.
 */
import { type IncomingMessage, Server, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import type { Busy } from "@miroir/pod-api"
import type { HttpRefusal } from "../AppMetrics.js"
import { ConnectionLimits, type Limits as ConnectionLimitsOptions } from "./connectionLimits.js"

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** Node's timeouts and the idle one, in milliseconds. */
export interface Timeouts {
  /** Node's `headersTimeout`: from a request's first byte until its headers have all arrived. */
  readonly headers: number
  /** Node's `requestTimeout`: from a request's first byte until it has all arrived, body included. */
  readonly request: number
  /** Node's `keepAliveTimeout`: an idle connection between two requests (Node adds 1 s). */
  readonly keepAlive: number
  /** Node's `connectionsCheckingInterval`: how often the two first are checked, hence their precision. */
  readonly checkingInterval: number
  /** A connection with a request under way on which nothing was read or written for this long. */
  readonly idle: number
}

/**
 * The JSON body of a {@link Options.constant} path: a string, encoded once, or a function read
 * synchronously at each request for the bytes to answer (it must be cheap: it runs before any queue).
 */
export type Body = string | (() => Uint8Array)

/** How the server guards itself. */
export interface Options {
  /** Paths answered with a JSON body (200) on GET at once, without the application. */
  readonly constant: Readonly<Record<string, Body>>
  /** Requests handed to the application per turn of the event loop. */
  readonly perTurn: number
  /**
   * Requests one connection may have under way at once (HTTP/1.1 pipelining: sent before the answers to
   * the previous ones); one more closes the connection.
   */
  readonly maxPipelined: number
  /** Requests held at once (waiting plus being served) beyond which a new one gets {@link busy}. */
  readonly maxHeld: number
  readonly connections: ConnectionLimitsOptions
  readonly timeouts: Timeouts
  /** The 503 of the contract: its JSON body and its `Retry-After`, written at once as bytes. */
  readonly busy: Busy
  /** Told of every refusal and cut-off (for the metrics). */
  readonly onRefused?: (reason: HttpRefusal) => void
  /** Told of the connections open and the requests held whenever either changes (for the metrics). */
  readonly onCounts?: (openConnections: number, heldRequests: number) => void
  /**
   * Told of every request answered with a constant, by path, with its connection's remote address as the
   * socket gives it (for the metrics, and for the pings of peers).
   */
  readonly onConstant?: (path: string, source: string) => void
}

/** One open connection: where from, and the answers under way on it that are counted as held. */
interface Connection {
  readonly source: string
  readonly held: Set<ServerResponse>
  /** Requests that arrived on it and whose answer has not finished: more than one when pipelined. */
  underWay: number
}

/** Node's own answers to what its parser refuses, as it writes them when nobody listens to `clientError`. */
const parserRefusals = {
  timeout: Buffer.from("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"),
  tooLarge: Buffer.from("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"),
  bad: Buffer.from("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
}

/**
 * The server. The application registers its handler as usual (`server.on("request", …)`); the server
 * keeps it for itself and calls it when a request's turn comes.
 */
export class GuardedServer extends Server {
  private application: Handler | undefined
  private readonly pending: Array<readonly [IncomingMessage, ServerResponse]> = []
  private drainScheduled = false
  private readonly limits: ConnectionLimits
  private readonly bySocket = new WeakMap<Socket, Connection>()
  private heldNow = 0
  private readonly constants: ReadonlyMap<string, () => Uint8Array>
  private readonly busy: Buffer

  constructor(private readonly options: Options) {
    super({
      headersTimeout: options.timeouts.headers,
      requestTimeout: options.timeouts.request,
      keepAliveTimeout: options.timeouts.keepAlive,
      connectionsCheckingInterval: options.timeouts.checkingInterval
    })
    this.limits = new ConnectionLimits(options.connections)
    // Encoded once: answering a probe or refusing must cost less than serving.
    this.constants = new Map(
      Object.entries(options.constant).map(([path, body]) => {
        if (typeof body !== "string") return [path, body]
        const bytes = Buffer.from(body)
        return [path, () => bytes]
      })
    )
    this.busy = Buffer.from(options.busy.json)
    super.on("request", (request: IncomingMessage, response: ServerResponse) => this.arrive(request, response))
    super.on("timeout", (socket: Socket) => this.idle(socket))
    super.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => this.clientError(error, socket))
  }

  /** Connections open now (those admitted). */
  get openConnections(): number {
    return this.limits.size
  }

  /** Requests held now: waiting for the application or being served. */
  get heldRequests(): number {
    return this.heldNow
  }

  override on(event: string | symbol, listener: (...args: Array<any>) => void): this {
    if (event === "upgrade" || event === "checkContinue") return this
    if (event !== "request") return super.on(event as "connection", listener)
    this.application = listener as Handler
    return this
  }

  override off(event: string | symbol, listener: (...args: Array<any>) => void): this {
    if (event === "upgrade" || event === "checkContinue") return this
    if (event !== "request") return super.off(event as "connection", listener)
    if (this.application === listener) this.application = undefined
    return this
  }

  /** Connections are admitted here, before Node's HTTP parser (a `connection` listener) sees them. */
  override emit(event: string | symbol, ...args: Array<any>): boolean {
    if (event === "connection" && !this.admit(args[0] as Socket)) return false
    return super.emit(event as string, ...args)
  }

  private refuse(reason: HttpRefusal): void {
    this.options.onRefused?.(reason)
  }

  private counted(): void {
    this.options.onCounts?.(this.limits.size, this.heldNow)
  }

  private admit(socket: Socket): boolean {
    const source = socket.remoteAddress
    const refusal = source === undefined ? "total" : this.limits.admit(source)
    if (source === undefined || refusal !== undefined) {
      this.refuse(refusal === "per-source" ? "connections_per_source" : "connections_total")
      socket.destroy()
      return false
    }
    const connection: Connection = { source, held: new Set(), underWay: 0 }
    this.bySocket.set(socket, connection)
    socket.once("close", () => {
      // Answers still under way when the connection closed will never finish.
      this.heldNow -= connection.held.size
      connection.held.clear()
      this.limits.release(source)
      this.counted()
    })
    this.counted()
    return true
  }

  private arrive(request: IncomingMessage, response: ServerResponse): void {
    // A connection closed for pipelining: Node's parser still hands on what its last read held.
    if (request.socket.destroyed) return
    if (!this.underWay(request, response)) return
    const path = (request.url ?? "/").split("?", 1)[0]!
    const body = request.method === "GET" ? this.constants.get(path) : undefined
    if (body !== undefined) {
      const constant = body()
      this.options.onConstant?.(path, request.socket.remoteAddress ?? "")
      response.writeHead(200, { "content-type": "application/json", "content-length": constant.byteLength })
      response.end(constant)
      return
    }
    if (this.heldNow >= this.options.maxHeld || this.application === undefined) {
      if (this.application !== undefined) this.refuse("requests_held")
      response.writeHead(503, {
        "content-type": "application/json",
        "content-length": this.busy.byteLength,
        "retry-after": String(this.options.busy.retryAfterSeconds)
      })
      response.end(this.busy)
      return
    }
    this.hold(request, response)
    this.pending.push([request, response])
    this.scheduleDrain()
  }

  /**
   * Counts the request among those under way on its connection until its answer has finished; past
   * {@link Options.maxPipelined}, closes the connection instead (false). Node parses every request of a
   * read (64 KB: a thousand small ones) and makes each a request and a response object before any is
   * answered: without this bound, one connection that pipelines and never reads would hold a thousand
   * refusals queued behind its first answer.
   */
  private underWay(request: IncomingMessage, response: ServerResponse): boolean {
    const connection = this.bySocket.get(request.socket)
    if (connection === undefined) return true
    if (connection.underWay >= this.options.maxPipelined) {
      this.refuse("pipelined")
      request.socket.destroy()
      return false
    }
    connection.underWay++
    let done = false
    const finished = () => {
      if (done) return
      done = true
      connection.underWay--
    }
    response.once("finish", finished)
    response.once("close", finished)
    // (A request without a body is not complete yet either when it is answered as it arrives.)
    const body = request.headers["transfer-encoding"] !== undefined || Number(request.headers["content-length"]) > 0
    if (body) {
      response.once("prefinish", () => {
        if (!request.complete) this.lingerAtClose(request.socket)
      })
    }
    return true
  }

  /**
   * An answer is ending before its request's body has all arrived (a 413, a 503): if Node then closes the
   * connection (the client sent `Connection: close`), it half-closes it instead and reads on, so that the
   * client reads its answer. Node's close (`destroySoon`) destroys the socket once the answer is written;
   * with bytes of the body still arriving, the kernel then resets the connection, and a client still
   * sending (Node's http.request, curl) gets `EPIPE` or `ECONNRESET`, not the answer: RFC 9112 §9.6's
   * "TCP reset problem", which it solves by closing in stages as here. The rest of the body is read and
   * dropped by Node (`IncomingMessage#_dump`), until the client closes, or the request timeout or the idle
   * timeout cuts it off.
   */
  private lingerAtClose(socket: Socket): void {
    socket.setTimeout(this.options.timeouts.idle)
    Object.defineProperty(socket, "destroySoon", { value: () => socket.end(), configurable: true })
  }

  /**
   * Counts the request as held until its answer has finished or its connection closed, and cuts its
   * connection off when nothing moves on it for the idle timeout meanwhile. The timeout is the socket's,
   * set per request rather than for the server (`server.timeout`), so that it never races Node's headers
   * timeout (a slow-header client gets its 408) and gives way to Node's keep-alive timeout between
   * requests.
   */
  private hold(request: IncomingMessage, response: ServerResponse): void {
    request.socket.setTimeout(this.options.timeouts.idle)
    const connection = this.bySocket.get(request.socket)
    if (connection === undefined) return
    connection.held.add(response)
    this.heldNow++
    this.counted()
    const release = () => {
      if (!connection.held.delete(response)) return
      this.heldNow--
      this.counted()
    }
    response.once("finish", release)
    response.once("close", release)
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return
    this.drainScheduled = true
    setImmediate(() => this.drain())
  }

  private drain(): void {
    this.drainScheduled = false
    for (let handed = 0; handed < this.options.perTurn && this.pending.length > 0;) {
      const [request, response] = this.pending.shift()!
      // A client that gave up while waiting costs nothing more.
      if (response.destroyed || request.destroyed) continue
      if (this.application === undefined) {
        response.writeHead(503, {
          "content-type": "application/json",
          "content-length": this.busy.byteLength,
          "retry-after": String(this.options.busy.retryAfterSeconds)
        })
        response.end(this.busy)
      } else {
        this.application(request, response)
      }
      handed++
    }
    if (this.pending.length > 0) this.scheduleDrain()
  }

  /**
   * Nothing was read or written on `socket` for the idle timeout while a request was held (Node's
   * keep-alive timeout comes here too, between requests): closed. Counted only when a request was held: a
   * client not reading its answer, or not sending its body.
   */
  private idle(socket: Socket): void {
    if ((this.bySocket.get(socket)?.held.size ?? 0) > 0) this.refuse("idle_timeout")
    socket.destroy()
  }

  /**
   * What Node does when nobody listens to `clientError` (a timeout of Node's, a request its parser
   * refuses, a connection that failed), counted. Node answers only when no answer is under way on the
   * connection; here, only when nothing was ever written on it, which needs none of Node's internals.
   */
  private clientError(error: NodeJS.ErrnoException, socket: Socket): void {
    const code = error.code
    // A connection the client reset is no refusal of ours; what the parser refused (HPE_…) is.
    // After an answer, a parse error is a client that went away mid-body (a 413's): no refusal either.
    if (code === "ERR_HTTP_REQUEST_TIMEOUT") this.refuse("request_timeout")
    else if (code?.startsWith("HPE_") === true && socket.bytesWritten === 0) this.refuse("malformed")
    if (socket.writable && socket.bytesWritten === 0) {
      socket.write(
        code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? parserRefusals.timeout
          : code === "HPE_HEADER_OVERFLOW"
          ? parserRefusals.tooLarge
          : parserRefusals.bad
      )
    }
    socket.destroy()
  }
}
