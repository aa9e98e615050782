/**
 * A Node HTTP server that answers the kubelet's probes at once and hands every other request to the
 * application a few at a time, one batch per turn of the event loop. Not API: HttpApi/Server.ts (serverLayer) uses it.
 *
 * Why: Node delivers the requests that arrived together one after the other, and each runs in the
 * Effect application until it waits or answers, all within one turn of the event loop. Two hundred
 * requests arriving at once (a flood of `/ownership`) then hold a probe that arrived just after them for
 * the whole burst — hundreds of milliseconds on two busy cores — although each costs little. Here the
 * application gets at most {@link Options.perTurn} requests per turn, so the probe waits for one batch;
 * the probes themselves never wait for the application (their answers are constants: liveness and
 * readiness say only that this process serves). Past {@link Options.maxPending} waiting requests, a new
 * one gets the 503 at once: the queue is bounded too.
 */
import { type IncomingMessage, Server, type ServerResponse } from "node:http"

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** How the server paces requests. */
export interface Options {
  /** Paths answered with a constant JSON body (200) on GET, without the application. */
  readonly constant: Readonly<Record<string, string>>
  /** Requests handed to the application per turn of the event loop. */
  readonly perTurn: number
  /** Requests waiting for the application beyond which new ones get {@link Options.busyBody} at once. */
  readonly maxPending: number
  /** The JSON body of that 503. */
  readonly busyBody: string
  readonly retryAfterSeconds: number
}

/**
 * The server. The application registers its handler as usual (`server.on("request", …)`); the server
 * keeps it for itself and calls it when a request's turn comes.
 */
export class PacedServer extends Server {
  private application: Handler | undefined
  private readonly pending: Array<readonly [IncomingMessage, ServerResponse]> = []
  private drainScheduled = false

  constructor(private readonly options: Options) {
    super()
    super.on("request", (request: IncomingMessage, response: ServerResponse) => this.arrive(request, response))
  }

  override on(event: string | symbol, listener: (...args: Array<any>) => void): this {
    if (event !== "request") return super.on(event as "connection", listener)
    this.application = listener as Handler
    return this
  }

  override off(event: string | symbol, listener: (...args: Array<any>) => void): this {
    if (event !== "request") return super.off(event as "connection", listener)
    if (this.application === listener) this.application = undefined
    return this
  }

  private arrive(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? "/").split("?", 1)[0]!
    const constant = request.method === "GET" ? this.options.constant[path] : undefined
    if (constant !== undefined) {
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(constant) })
      response.end(constant)
      return
    }
    if (this.pending.length >= this.options.maxPending) {
      response.writeHead(503, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(this.options.busyBody),
        "retry-after": String(this.options.retryAfterSeconds)
      })
      response.end(this.options.busyBody)
      return
    }
    this.pending.push([request, response])
    this.scheduleDrain()
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
          "retry-after": String(this.options.retryAfterSeconds)
        })
        response.end(this.options.busyBody)
      } else {
        this.application(request, response)
      }
      handed++
    }
    if (this.pending.length > 0) this.scheduleDrain()
  }
}
