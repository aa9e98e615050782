/**
 * A DNS server for tests that misbehaves on purpose: UDP and TCP on one loopback port (IPv4 or IPv6,
 * port 0: the system picks a free one), answering each query as the test's script says — truncated
 * answers, wrong ids, foreign records, silence, a connection cut in the middle of a message.
 */
import { createSocket } from "node:dgram"
import { createServer, type Socket } from "node:net"
import dnsPacket from "dns-packet"

/** What the server does with one query. */
export type Reply =
  /** Send these messages, in order (over TCP each with its length prefix). */
  | { readonly send: ReadonlyArray<Buffer> }
  /** Over TCP: send the length prefix of `message` and only its first `bytes`, then close. */
  | { readonly cut: Buffer; readonly bytes: number }
  /** Say nothing (over TCP: keep the connection open). */
  | "silent"

/** The script: the reply to `query`, received over `transport`. */
export type Script = (query: dnsPacket.DecodedPacket, transport: "udp" | "tcp") => Reply

/** A running scripted server. */
export interface ScriptedDns {
  /** `127.0.0.1:<port>` or `[::1]:<port>`, for `MIROIR_DNS_SERVERS`. */
  readonly server: string
  readonly port: number
  /** Queries received so far, by transport, with their decoded packets. */
  readonly queries: Array<{ readonly transport: "udp" | "tcp"; readonly packet: dnsPacket.DecodedPacket }>
  /** TCP connections currently open. */
  readonly openConnections: () => number
  /** Replaces the script. */
  setScript(script: Script): void
  readonly close: () => Promise<void>
}

/** Starts a scripted server on `host` (default 127.0.0.1). */
export const startScriptedDns = (script: Script, host = "127.0.0.1"): Promise<ScriptedDns> =>
  new Promise((resolve, reject) => {
    let current = script
    const queries: ScriptedDns["queries"] = []
    const connections = new Set<Socket>()
    const handle = (message: Buffer, transport: "udp" | "tcp"): Reply => {
      const packet = dnsPacket.decode(message)
      queries.push({ transport, packet })
      return current(packet, transport)
    }
    const tcp = createServer((connection) => {
      connections.add(connection)
      connection.on("close", () => connections.delete(connection))
      connection.on("error", () => undefined)
      let pending = Buffer.alloc(0)
      connection.on("data", (chunk) => {
        pending = Buffer.concat([pending, chunk])
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const message = pending.subarray(2, 2 + pending.readUInt16BE(0))
          pending = pending.subarray(2 + message.length)
          const reply = handle(message, "tcp")
          if (reply === "silent") continue
          if ("cut" in reply) {
            const prefix = Buffer.alloc(2)
            prefix.writeUInt16BE(reply.cut.length)
            connection.end(Buffer.concat([prefix, reply.cut.subarray(0, reply.bytes)]))
            return
          }
          for (const out of reply.send) {
            const prefix = Buffer.alloc(2)
            prefix.writeUInt16BE(out.length)
            connection.write(Buffer.concat([prefix, out]))
          }
        }
      })
    })
    tcp.once("error", reject)
    tcp.listen(0, host, () => {
      const address = tcp.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const udp = createSocket(host.includes(":") ? "udp6" : "udp4")
      udp.once("error", (error) => (tcp.close(), reject(error)))
      udp.on("message", (message, from) => {
        const reply = handle(message, "udp")
        if (reply === "silent" || "cut" in reply) return
        for (const out of reply.send) udp.send(out, from.port, from.address)
      })
      udp.bind(port, host, () =>
        resolve({
          server: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`,
          port,
          queries,
          openConnections: () => connections.size,
          setScript: (next) => void (current = next),
          close: () =>
            new Promise<void>((done) => {
              for (const connection of connections) connection.destroy()
              udp.close()
              tcp.close(() => done())
            })
        }))
    })
  })

/** The reply to `query`: same id and question, `rcode`, these answers and additional records, TC when `truncated`. */
export const reply = (
  query: dnsPacket.DecodedPacket,
  options: {
    readonly answers?: ReadonlyArray<dnsPacket.Answer>
    readonly additionals?: ReadonlyArray<dnsPacket.Answer>
    readonly rcode?: "NOERROR" | "NXDOMAIN" | "SERVFAIL" | "REFUSED" | "NOTIMP"
    readonly truncated?: boolean
    readonly id?: number
    readonly questions?: ReadonlyArray<dnsPacket.Question>
  } = {}
): Buffer => {
  const rcodes = { NOERROR: 0, NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5, NOTIMP: 4 }
  const message = dnsPacket.encode({
    type: "response",
    id: options.id ?? query.id ?? 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (options.truncated ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: [...(options.questions ?? query.questions ?? [])],
    answers: [...(options.answers ?? [])],
    additionals: [...(options.additionals ?? [])]
  })
  // dns-packet writes no RCODE: set it in the header's low four bits.
  message.writeUInt16BE(message.readUInt16BE(2) | rcodes[options.rcode ?? "NOERROR"], 2)
  return message
}

/** An SRV record of `owner` pointing at `target`. */
export const srv = (owner: string, target: string, port = 7700): dnsPacket.Answer => ({
  type: "SRV",
  name: owner.replace(/\.$/, ""),
  ttl: 5,
  class: "IN",
  data: { priority: 0, weight: 10, port, target: target.replace(/\.$/, "") }
})
