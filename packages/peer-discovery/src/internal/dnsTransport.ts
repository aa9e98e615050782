/**
 * One DNS exchange over UDP or TCP with one server, as an Effect: a socket of its own, opened for the
 * exchange and closed when it ends, fails, times out or is interrupted. Replies that do not answer the
 * query are ignored. The timeout is a plain timer of the exchange (`ETIMEOUT`) rather than an Effect
 * race: on a loopback lookup of half a millisecond, two fibers per race cost as much as the lookup.
 */
import { createSocket } from "node:dgram"
import { isIP } from "node:net"
import { connect } from "node:net"
import { Effect } from "effect"
import { decodeReply, type Reply } from "./dnsMessage.js"

/** A DNS server: an IP address and a port. */
export interface Server {
  readonly host: string
  readonly port: number
  readonly family: 4 | 6
}

/** The transport failed: a socket error (`ECONNREFUSED`, …), a connection closed without an answer, or no answer in time (`ETIMEOUT`). */
export interface TransportError {
  readonly code: string
}

/**
 * Parses a server in node:dns form — `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port`, or a bare IPv6
 * address — as `MIROIR_DNS_SERVERS` and `dns.getServers()` give them. Undefined when it is not one.
 */
export const parseServer = (text: string): Server | undefined => {
  const bare = text.trim()
  const family = isIP(bare)
  if (family !== 0) return { host: bare, port: 53, family: family as 4 | 6 }
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(bare)
  const plain = bracketed ? null : /^([^:]+):(\d+)$/.exec(bare)
  const host = bracketed?.[1] ?? plain?.[1]
  const port = Number(bracketed?.[2] ?? plain?.[2] ?? 53)
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined
  const hostFamily = isIP(host)
  if (hostFamily === 0 || (bracketed !== null && hostFamily !== 6)) return undefined
  return { host, port, family: hostFamily as 4 | 6 }
}

/** `host:port`, IPv6 in brackets: for logs and error codes. */
export const formatServer = (server: Server): string =>
  server.family === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`

/**
 * Registers an exchange with the resolver: `abort` closes its socket and fails it (`ECANCELED`), so that
 * closing the resolver's scope ends every exchange in flight instead of leaving it waiting. Returns the
 * unregistration.
 */
export type Track = (abort: () => void) => () => void

const errorCode = (error: unknown): string => (error as NodeJS.ErrnoException | undefined)?.code ?? "ERROR"

/** What an exchange's socket code is given: `settle` ends the exchange (only the first call counts); `isOpen` says whether it is still going. */
interface Exchange {
  readonly settle: (result: Effect.Effect<Reply, TransportError>) => void
  readonly isOpen: () => boolean
}

/**
 * The once-only scaffolding of both exchanges, as an Effect: `start` opens the socket, wires its events
 * to `settle` and returns how to close it. The first of a reply, a socket error, the timer (`ETIMEOUT`),
 * the resolver's abort (`ECANCELED`) or an interruption ends the exchange: the timer is stopped, the
 * exchange unregistered, the socket closed, and the Effect resumed (not on interruption) with the result.
 */
const settleOnce = (
  track: Track,
  timeoutMs: number,
  start: (exchange: Exchange) => () => void
): Effect.Effect<Reply, TransportError> =>
  Effect.callback<Reply, TransportError>((resume) => {
    let open = true
    // Assigned once, below, but `close` may run (on a settle inside `start`) before that.
    // eslint-disable-next-line prefer-const
    let closeSocket: (() => void) | undefined
    const close = () => {
      if (!open) return
      open = false
      clearTimeout(timer)
      untrack()
      closeSocket?.()
    }
    const settle = (result: Effect.Effect<Reply, TransportError>) => {
      if (!open) return
      close()
      resume(result)
    }
    const untrack = track(() => settle(Effect.fail({ code: "ECANCELED" })))
    const timer = setTimeout(() => settle(Effect.fail({ code: "ETIMEOUT" })), Math.max(1, timeoutMs))
    closeSocket = start({ settle, isOpen: () => open })
    // Settled while starting: the socket was not known to `close` yet.
    if (!open) closeSocket()
    return Effect.sync(close)
  })

/** Opens the socket of one exchange and wires it to the exchange; returns how to close it. */
type Start = (server: Server, query: Buffer, accept: (reply: Reply) => boolean) => (exchange: Exchange) => () => void

/**
 * Sends `query` over UDP from a socket connected to `server` (so the kernel drops datagrams from any
 * other address, and a closed port comes back as `ECONNREFUSED`) and waits for the first reply `accept`
 * takes.
 */
const overUdp: Start = (server, query, accept) => ({ isOpen, settle }) => {
  const socket = createSocket(server.family === 6 ? "udp6" : "udp4")
  socket.on("error", (error) => settle(Effect.fail({ code: errorCode(error) })))
  socket.on("message", (message) => {
    const reply = decodeReply(message)
    if (reply !== undefined && accept(reply)) settle(Effect.succeed(reply))
  })
  socket.connect(server.port, server.host, () => {
    if (!isOpen()) return
    socket.send(query, (error) => {
      if (error) settle(Effect.fail({ code: errorCode(error) }))
    })
  })
  return () => {
    try {
      socket.close()
    } catch {
      // already closed by an error
    }
  }
}

/** The largest DNS message: its length is a 16-bit prefix over TCP. */
const MAX_MESSAGE = 65_535

/**
 * Sends `query` over TCP (RFC 1035 §4.2.2: each message prefixed by its 16-bit length) and waits for the
 * first reply `accept` takes. A connection that closes in the middle of a reply gives that reply marked
 * incomplete: it is known to be cut short, never taken as whole.
 */
const overTcp: Start = (server, query, accept) => ({ settle }) => {
  const socket = connect({ host: server.host, port: server.port })
  socket.setNoDelay(true)
  let pending: Buffer = Buffer.alloc(0)
  socket.on("connect", () => {
    const prefix = Buffer.alloc(2)
    prefix.writeUInt16BE(query.length)
    socket.write(Buffer.concat([prefix, query]))
  })
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0)
      if (pending.length < 2 + length) break
      const reply = decodeReply(pending.subarray(2, 2 + length))
      pending = pending.subarray(2 + length)
      if (reply !== undefined && accept(reply)) return settle(Effect.succeed(reply))
    }
    if (pending.length > 2 + MAX_MESSAGE) settle(Effect.fail({ code: "EMSGSIZE" }))
  })
  socket.on("error", (error) => settle(Effect.fail({ code: errorCode(error) })))
  socket.on("close", () => {
    const partial = pending.length > 2 ? decodeReply(pending.subarray(2), true) : undefined
    settle(
      partial !== undefined && accept(partial)
        ? Effect.succeed(partial)
        : Effect.fail({ code: "ECONNRESET" })
    )
  })
  return () => socket.destroy()
}

/**
 * One exchange of `query` with `server` over `transport`, ended by the first reply `accept` takes, a
 * transport error, or `timeoutMs`.
 */
export const sendQuery = (
  transport: "udp" | "tcp",
  server: Server,
  query: Buffer,
  accept: (reply: Reply) => boolean,
  track: Track,
  timeoutMs: number
): Effect.Effect<Reply, TransportError> =>
  settleOnce(track, timeoutMs, (transport === "udp" ? overUdp : overTcp)(server, query, accept))
