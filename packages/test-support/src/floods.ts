/**
 * Clients that attack a pod's HTTP server from loopback source addresses of their own, for the tests and
 * the benchmarks that check what it withstands: crowds of raw connections that send a prelude and then
 * dribble or hold (slow headers, slow bodies, answers never read), single exchanges on a new connection
 * from a chosen address, and a prober, in a process of its own as the kubelet is, that measures the
 * probes' latency meanwhile.
 * Only loopback: every address here is 127.x.y.z.
 */
import { spawn } from "node:child_process"
import { type IncomingHttpHeaders, request } from "node:http"
import { connect, type Socket } from "node:net"

/** One exchange: the status (0 when none came), the headers, the body and how long it took. */
export interface Exchange {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
  readonly ms: number
  /** Why there was no answer: the connection closed or reset, or the timeout passed. */
  readonly error?: string
}

/** How {@link exchange} asks. */
export interface ExchangeOptions {
  /** The source address of the connection (127.x.y.z). */
  readonly localAddress?: string
  readonly method?: string
  readonly headers?: Readonly<Record<string, string | number>>
  /** Sent whole, or streamed chunk by chunk (then without a Content-Length unless one is given). */
  readonly body?: Uint8Array | string | AsyncIterable<Uint8Array>
  /** No answer within it: status 0, error `timeout`. */
  readonly timeoutMs?: number
}

/**
 * One HTTP/1.1 exchange on a new connection, closed after (`agent: false`, as the kubelet's probes are),
 * from `options.localAddress`. Never rejects: a failure is a status 0 with its error.
 */
export const exchange = (url: string, options: ExchangeOptions = {}): Promise<Exchange> =>
  new Promise((resolve) => {
    const started = performance.now()
    let settled = false
    const settle = (result: Omit<Exchange, "ms">) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve({ ...result, ms: performance.now() - started })
    }
    const fail = (error: string) => settle({ status: 0, headers: {}, body: Buffer.alloc(0), error })
    const req = request(url, {
      method: options.method ?? "GET",
      headers: options.headers,
      agent: false,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        settle({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }))
      response.on("error", (error) =>
        fail(String(error)))
    })
    const timer = setTimeout(() => {
      fail("timeout")
      req.destroy()
    }, options.timeoutMs ?? 30_000)
    req.on("error", (error) => fail(String(error)))
    const body = options.body
    if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
      req.end(body)
      return
    }
    void (async () => {
      try {
        for await (const chunk of body) {
          if (settled || req.destroyed) return
          if (!req.write(chunk)) await new Promise((drained) => req.once("drain", drained))
        }
        req.end()
      } catch (error) {
        fail(String(error))
      }
    })()
  })

/** `count` chunks of `size` bytes of `x`, one at a time: a body streamed without a Content-Length. */
export async function* chunks(count: number, size = 64 * 1024): AsyncIterable<Uint8Array> {
  const chunk = new Uint8Array(size).fill(120)
  for (let i = 0; i < count; i++) yield chunk
}

/** One probe: the path, its status (0: none within the timeout), its latency and when it was connected (-1: never). */
export interface Probe {
  readonly path: string
  readonly status: number
  readonly ms: number
  readonly connectMs: number
}

/** A prober under way; `stop` ends it and resolves with every probe. */
export interface Prober {
  readonly stop: () => Promise<ReadonlyArray<Probe>>
}

/**
 * The prober's program, run by a Node process of its own: `node -e PROBER url address everyMs timeoutMs
 * paths`. It probes until its standard input closes, then prints every probe as JSON.
 */
const PROBER = `
const http = require("node:http")
const [base, localAddress, everyMs, timeoutMs, paths] = process.argv.slice(1)
const probes = []
let stopping = false
process.stdin.on("end", () => (stopping = true))
process.stdin.resume()
const probe = (path) => new Promise((resolve) => {
  const started = performance.now()
  let done = false
  const settle = (status) => {
    if (done) return
    done = true
    clearTimeout(timer)
    resolve({ path, status, ms: performance.now() - started, connectMs })
  }
  let connectMs = -1
  const req = http.get(base + path, { agent: false, localAddress }, (res) => {
    res.resume()
    res.on("end", () => settle(res.statusCode))
    res.on("error", () => settle(0))
  })
  const timer = setTimeout(() => { settle(0); req.destroy() }, Number(timeoutMs))
  req.on("error", () => settle(0))
  req.on("socket", (socket) => socket.on("connect", () => (connectMs = performance.now() - started)))
})
;(async () => {
  const list = paths.split(",")
  for (let i = 0; !stopping || probes.length < 2; i++) {
    probes.push(await probe(list[i % list.length]))
    await new Promise((resolve) => setTimeout(resolve, Number(everyMs)))
  }
  process.stdout.write(JSON.stringify(probes))
})()
`

/**
 * Probes `base` (`http://ip:port`) as the kubelet does — from a process and a source address of its own,
 * a new connection per probe, given up after the probe timeout (2 s by default, the chart's) — every
 * `everyMs`, alternating `paths`, until stopped. A process of its own, so that the latencies are the
 * pod's and not those of a test process busy with thousands of connections of its own.
 */
export const probing = (
  base: string,
  options: {
    readonly localAddress: string
    readonly everyMs?: number
    readonly timeoutMs?: number
    readonly paths?: ReadonlyArray<string>
  }
): Prober => {
  const child = spawn(process.execPath, [
    "-e",
    PROBER,
    base,
    options.localAddress,
    String(options.everyMs ?? 250),
    String(options.timeoutMs ?? 2_000),
    (options.paths ?? ["/healthz", "/readyz"]).join(",")
  ], { stdio: ["pipe", "pipe", "inherit"] })
  let output = ""
  child.stdout.on("data", (data) => (output += String(data)))
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()))
  let stopped: Promise<ReadonlyArray<Probe>> | undefined
  return {
    stop: () =>
      stopped ??= (async () => {
        child.stdin.end()
        await exited
        return JSON.parse(output) as ReadonlyArray<Probe>
      })()
  }
}

/** One connection of a {@link Crowd}. */
export interface Member {
  readonly socket: Socket
  readonly source: string
  /** The first bytes received (at most 64), enough for the status line. */
  head: string
  received: number
  connected: boolean
  closed: boolean
}

/** How the members of a crowd ended up. */
export interface CrowdSummary {
  /** Connections attempted. */
  readonly attempted: number
  /** Connected (the kernel accepts on loopback before the server decides). */
  readonly connected: number
  /** Open now. */
  readonly open: number
  /** Closed without a byte received: refused as they arrived. */
  readonly closedUnanswered: number
  /** The status of the answers received, in the first line (`HTTP/1.1 503 …`), counted. */
  readonly statuses: Readonly<Record<string, number>>
}

/** A crowd of raw connections. */
export interface Crowd {
  readonly members: ReadonlyArray<Member>
  /** Writes `data` on every open member every `everyMs` (a slow client); returns the stop. */
  readonly dribble: (data: string | Uint8Array, everyMs: number) => () => void
  /** Lets every paused member read again (to learn how it was answered). */
  readonly resume: () => void
  readonly summary: () => CrowdSummary
  /** Closes every member. */
  readonly destroy: () => void
}

/**
 * Opens `perSource` connections from each of `sources` to `host:port` at once, and writes `send` on each
 * as it connects. `read`: `all` reads every answer (keeping its first bytes), `head` reads the first
 * chunk and then nothing (a client that never reads the rest of its answer). Resolves once every
 * connection has connected or failed.
 */
export const crowd = async (options: {
  readonly host: string
  readonly port: number
  readonly sources: ReadonlyArray<string>
  readonly perSource: number
  readonly send?: string | Uint8Array
  readonly read?: "all" | "head"
}): Promise<Crowd> => {
  const members: Array<Member> = []
  const ready: Array<Promise<void>> = []
  for (let i = 0; i < options.perSource; i++) {
    for (const source of options.sources) {
      const socket = connect({ host: options.host, port: options.port, localAddress: source })
      const member: Member = { socket, source, head: "", received: 0, connected: false, closed: false }
      members.push(member)
      socket.on("data", (data: Buffer) => {
        if (member.head.length < 64) member.head += data.subarray(0, 64 - member.head.length).toString("latin1")
        member.received += data.byteLength
      })
      if (options.read === "head") socket.once("data", () => socket.pause())
      socket.on("error", () => undefined)
      ready.push(
        new Promise((resolve) => {
          socket.once("connect", () => {
            member.connected = true
            if (options.send !== undefined) socket.write(options.send)
            resolve()
          })
          socket.once("close", () => {
            member.closed = true
            resolve()
          })
        })
      )
    }
  }
  await Promise.all(ready)
  return {
    members,
    dribble: (data, everyMs) => {
      const timer = setInterval(() => {
        for (const member of members) if (!member.closed && member.connected) member.socket.write(data)
      }, everyMs)
      return () => clearInterval(timer)
    },
    resume: () => {
      for (const member of members) member.socket.resume()
    },
    summary: () => {
      const statuses: Record<string, number> = {}
      for (const member of members) {
        const status = /^HTTP\/1\.1 (\d{3})/.exec(member.head)?.[1]
        if (status !== undefined) statuses[status] = (statuses[status] ?? 0) + 1
      }
      return {
        attempted: members.length,
        connected: members.filter((m) => m.connected).length,
        open: members.filter((m) => !m.closed).length,
        closedUnanswered: members.filter((m) => m.closed && m.received === 0).length,
        statuses
      }
    },
    destroy: () => {
      for (const member of members) member.socket.destroy()
    }
  }
}
