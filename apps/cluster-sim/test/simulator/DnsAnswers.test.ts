/** The simulator's DNS answers, checked against what CoreDNS's kubernetes plugin gives (DESIGN.md §2). */
import dnsPacket from "dns-packet"
import { describe, expect, it } from "vitest"
import {
  defaultService,
  type Endpoint,
  endpointLabel,
  respond,
  srvName,
  UDP_LIMIT
} from "../../src/simulator/DnsAnswers.js"

const DOMAIN = "miroir-headless.default.svc.cluster.local"
const SRV = srvName(defaultService)
/** The decoded answer (dns-packet's types leave out rcode and mark every section optional). */
const ask = (
  name: string,
  type: dnsPacket.RecordType,
  endpoints: ReadonlyArray<Endpoint>,
  transport: "udp" | "tcp" = "tcp",
  edns?: number
): any =>
  dnsPacket.decode(respond(
    defaultService,
    endpoints,
    dnsPacket.decode(dnsPacket.encode({
      type: "query",
      id: 42,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name }],
      ...(edns === undefined
        ? {}
        : { additionals: [{ type: "OPT", name: ".", udpPayloadSize: edns } as dnsPacket.OptAnswer] })
    })),
    transport
  ))

const deployment = (n: number): Array<Endpoint> =>
  Array.from({ length: n }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}` }))

describe("the simulator's cluster DNS answers", () => {
  it("names the SRV record of a named port", () => {
    expect(SRV).toBe(`_http._tcp.${DOMAIN}`)
  })

  it("answers SRV with priority 0, weight floor(100/N), the pod port and dashed-IP targets, A records as additionals", () => {
    const answer = ask(`${SRV}.`, "SRV", deployment(3))
    expect(answer.rcode).toBe("NOERROR")
    expect(answer.flag_aa).toBe(true)
    expect(answer.id).toBe(42)
    expect(answer.answers.map((a: any) => a.data)).toEqual([0, 1, 2].map((i) => ({
      priority: 0,
      weight: 33,
      port: 7700,
      target: `10-244-0-${i}.${DOMAIN}`
    })))
    expect(answer.answers.every((a: any) => a.ttl === 5)).toBe(true)
    expect(answer.additionals.map((a: any) => [a.type, a.name, a.data])).toEqual(
      [0, 1, 2].map((i) => ["A", `10-244-0-${i}.${DOMAIN}`, `10.244.0.${i}`])
    )
  })

  it("gives a weight of at least 1 past 100 endpoints", () => {
    const answer = ask(SRV, "SRV", deployment(150))
    expect(answer.answers).toHaveLength(150)
    expect(answer.answers.every((a: any) => a.data.weight === 1)).toBe(true)
  })

  it("labels StatefulSet pods by hostname and IPv6 pods by dashed address, with CoreDNS 1.12.3's trailing 0", () => {
    expect(endpointLabel({ ip: "10.244.1.5", hostname: "miroir-0" })).toBe("miroir-0")
    expect(endpointLabel({ ip: "fd00::1" })).toBe("fd00--1")
    expect(endpointLabel({ ip: "fd00:10::" })).toBe("fd00-10--0")
    const answer = ask(SRV, "SRV", [{ ip: "fd00::1" }])
    expect(answer.additionals[0]).toMatchObject({ type: "AAAA", data: "fd00::1" })
  })

  it("answers NXDOMAIN with an SOA when no endpoint is ready, for SRV, A and AAAA", () => {
    for (const [name, type] of [[SRV, "SRV"], [DOMAIN, "A"], [DOMAIN, "AAAA"]] as const) {
      const answer = ask(name, type, [])
      expect(answer.rcode, `${type} ${name}`).toBe("NXDOMAIN")
      expect(answer.answers).toEqual([])
      expect(answer.authorities[0]).toMatchObject({ type: "SOA", name: "cluster.local" })
    }
  })

  it("answers A for the Service and for each target, and no data for a missing family", () => {
    expect(ask(DOMAIN, "A", deployment(2)).answers.map((a: any) => a.data)).toEqual(["10.244.0.0", "10.244.0.1"])
    expect(ask(`10-244-0-1.${DOMAIN}`, "A", deployment(2)).answers.map((a: any) => a.data)).toEqual(["10.244.0.1"])
    const aaaa = ask(DOMAIN, "AAAA", deployment(2))
    expect(aaaa.rcode).toBe("NOERROR")
    expect(aaaa.answers).toEqual([])
    expect(ask(`10-244-9-9.${DOMAIN}`, "A", deployment(2)).rcode).toBe("NXDOMAIN")
  })

  it("refuses names outside the cluster domain", () => {
    expect(ask("example.com", "A", deployment(2)).rcode).toBe("REFUSED")
  })

  it("truncates a UDP answer over 512 bytes without EDNS, sets TC, and answers whole over TCP", () => {
    const udp = respond(
      defaultService,
      deployment(10),
      dnsPacket.decode(dnsPacket.encode({
        type: "query",
        id: 1,
        questions: [{ type: "SRV", name: SRV }]
      })),
      "udp"
    )
    expect(udp.length).toBeLessThanOrEqual(UDP_LIMIT)
    const decoded: any = dnsPacket.decode(udp)
    expect(decoded.flag_tc).toBe(true)
    expect(decoded.answers.length).toBeLessThan(10)
    expect(decoded.additionals).toEqual([])
    const tcp = ask(SRV, "SRV", deployment(10), "tcp")
    expect(tcp.flag_tc).toBe(false)
    expect(tcp.answers).toHaveLength(10)
    expect(tcp.additionals).toHaveLength(10)
  })

  // dns-packet writes every name in full (no compression), about 194 bytes a pod where CoreDNS needs ~80:
  // answers truncate from 3 pods here instead of about 6. The client's behaviour (retry over TCP) is the same.
  it("fits two Deployment pods with their A records in 512 bytes, not three, and honours a larger EDNS size", () => {
    expect(ask(SRV, "SRV", deployment(2), "udp").flag_tc).toBe(false)
    expect(ask(SRV, "SRV", deployment(3), "udp").flag_tc).toBe(true)
    const large = ask(SRV, "SRV", deployment(10), "udp", 4096)
    expect(large.flag_tc).toBe(false)
    expect(large.answers).toHaveLength(10)
  })
})
