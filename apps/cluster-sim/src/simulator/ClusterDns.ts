/**
 * The cluster DNS of the simulator: answers like CoreDNS for one headless Service (DnsAnswers), over
 * UDP and TCP on one loopback port. The endpoints controller sets the ready endpoints; an outage
 * makes it stop answering (queries time out), as a CoreDNS that is down or unreachable would.
 */
import { createSocket } from "node:dgram"
import { createServer, type Socket } from "node:net"
import dnsPacket from "dns-packet"
import { Effect, type Scope } from "effect"
import { defaultService, type Endpoint, respond, type ServiceSpec } from "./DnsAnswers.js"

/**
 * What the endpoints controller needs of a cluster DNS: this simulator's, or a real server driven
 * from outside (the acceptance suite runs the same checks with unbound behind this interface).
 */
export interface DnsBackend {
  /** Which server answers, for reports: `simulator`, `unbound`. */
  readonly name: string
  /** `host:port`, for `MIROIR_DNS_SERVERS`. */
  readonly server: string
  readonly spec: ServiceSpec
  /** Publishes the ready endpoints (an empty list: NXDOMAIN). */
  readonly setEndpoints: (endpoints: ReadonlyArray<Endpoint>) => void
  /** Starts or ends an outage: while on, no query is answered. */
  readonly setOutage: (on: boolean) => void
}

/** The simulator's cluster DNS. */
export interface ClusterDns extends DnsBackend {
  /** The endpoints published now. */
  readonly endpoints: () => ReadonlyArray<Endpoint>
  /** Queries answered so far, by transport. */
  readonly answered: () => { readonly udp: number; readonly tcp: number }
}

const listenUdpAndTcp = (host: string, handle: (message: Buffer, transport: "udp" | "tcp") => Buffer | undefined) =>
  Effect.acquireRelease(
    Effect.callback<{ port: number; close: () => void }, Error>((resume) => {
      const tcp = createServer((connection: Socket) => {
        let pending = Buffer.alloc(0)
        connection.on("data", (chunk: Buffer) => {
          pending = Buffer.concat([pending, chunk])
          while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
            const length = pending.readUInt16BE(0)
            const response = handle(pending.subarray(2, 2 + length), "tcp")
            pending = pending.subarray(2 + length)
            if (response !== undefined) {
              const prefix = Buffer.alloc(2)
              prefix.writeUInt16BE(response.length)
              connection.write(Buffer.concat([prefix, response]))
            }
          }
        })
        connection.on("error", () => connection.destroy())
      })
      tcp.once("error", (error) => resume(Effect.fail(error)))
      tcp.listen(0, host, () => {
        const address = tcp.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        const udp = createSocket("udp4")
        udp.once("error", (error) => (tcp.close(), resume(Effect.fail(error))))
        udp.on("message", (message, remote) => {
          const response = handle(message, "udp")
          if (response !== undefined) udp.send(response, remote.port, remote.address)
        })
        udp.bind(port, host, () =>
          resume(Effect.succeed({
            port,
            close: () => {
              udp.close()
              tcp.close()
            }
          })))
      })
    }),
    ({ close }) => Effect.sync(close)
  )

/** Starts the cluster DNS on `host` (127.0.0.1) and a free port, for the Service `spec`. */
export const make = (
  spec: ServiceSpec = defaultService,
  host = "127.0.0.1"
): Effect.Effect<ClusterDns, Error, Scope.Scope> =>
  Effect.gen(function*() {
    let endpoints: ReadonlyArray<Endpoint> = []
    let outage = false
    const answered = { udp: 0, tcp: 0 }
    const { port } = yield* listenUdpAndTcp(host, (message, transport) => {
      if (outage) return undefined
      let query: dnsPacket.DecodedPacket
      try {
        query = dnsPacket.decode(message)
      } catch {
        return undefined
      }
      answered[transport] += 1
      return respond(spec, endpoints, query, transport)
    })
    return {
      name: "simulator",
      server: `${host}:${port}`,
      spec,
      setEndpoints: (next) => {
        endpoints = [...next]
      },
      endpoints: () => endpoints,
      setOutage: (on) => {
        outage = on
      },
      answered: () => ({ ...answered })
    }
  })
