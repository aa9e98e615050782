/**
 * The answers CoreDNS's `kubernetes` plugin gives for one headless Service (DESIGN.md §2), as pure
 * functions over the ready endpoints: SRV of the named port with A/AAAA of the targets in the
 * additional section, A/AAAA of the Service and of each target, NXDOMAIN with an SOA when nothing is
 * ready, REFUSED outside the cluster domain, and truncation (TC) of UDP answers over 512 bytes.
 *
 * One difference: dns-packet writes every name in full, where CoreDNS compresses owner names, so an
 * answer here takes about 194 bytes a pod instead of ~80 and truncates from 3 pods instead of about 6.
 * Clients behave the same (they retry over TCP); the TCP path is only exercised sooner.
 */
import { isIPv6 } from "node:net"
import { PeerId } from "@miroir/peer-discovery"
import dnsPacket from "dns-packet"

/** A ready endpoint of the Service. */
export interface Endpoint {
  readonly ip: string
  /** Set for StatefulSet pods (hostname + subdomain = the Service): the target label is the hostname. */
  readonly hostname?: string | undefined
}

/** The Service the cluster DNS serves. */
export interface ServiceSpec {
  readonly service: string
  readonly namespace: string
  readonly clusterDomain: string
  /** Name of the Service port (`http`); only a named port has SRV records. */
  readonly portName: string
  readonly port: number
  /** TTL of every record: CoreDNS's plugin default is 5 s. */
  readonly ttl: number
}

/** The default Service: `miroir-headless` in `default`, port `http` 7700. */
export const defaultService: ServiceSpec = {
  service: "miroir-headless",
  namespace: "default",
  clusterDomain: "cluster.local",
  portName: "http",
  port: 7700,
  ttl: 5
}

const RCODE = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5 } as const

/** The largest UDP answer when the query carries no EDNS (c-ares sends none). */
export const UDP_LIMIT = 512

/** The label CoreDNS gives an endpoint: its hostname, else its IP with `.`/`:` dashed (`fd00--` gets a `0`). */
export const endpointLabel = (endpoint: Endpoint): string => {
  if (endpoint.hostname !== undefined) return endpoint.hostname
  const dashed = endpoint.ip.replaceAll(".", "-").replaceAll(":", "-")
  return dashed.endsWith("-") ? `${dashed}0` : dashed
}

/** The Service's domain (`miroir-headless.default.svc.cluster.local`, no trailing dot), as discovery names it. */
export const serviceDomain = (spec: ServiceSpec): string =>
  PeerId.serviceDomain({ service: spec.service, podNamespace: spec.namespace, clusterDomain: spec.clusterDomain })
    .slice(0, -1)

/** The SRV name of the Service's port. */
export const srvName = (spec: ServiceSpec) => `_${spec.portName}._tcp.${serviceDomain(spec)}`

const soa = (spec: ServiceSpec): dnsPacket.Answer => ({
  type: "SOA",
  name: spec.clusterDomain,
  ttl: spec.ttl,
  data: {
    mname: `ns.dns.${spec.clusterDomain}`,
    rname: `hostmaster.${spec.clusterDomain}`,
    serial: 1,
    refresh: 7200,
    retry: 1800,
    expire: 86400,
    minimum: spec.ttl
  }
})

const addressRecord = (name: string, ip: string, ttl: number): dnsPacket.Answer =>
  isIPv6(ip) ? { type: "AAAA", name, ttl, data: ip } : { type: "A", name, ttl, data: ip }

interface Answer {
  readonly rcode: number
  readonly answers: ReadonlyArray<dnsPacket.Answer>
  readonly authorities: ReadonlyArray<dnsPacket.Answer>
  readonly additionals: ReadonlyArray<dnsPacket.Answer>
}

/** What the plugin answers to one question, given the ready endpoints. */
export const resolve = (
  spec: ServiceSpec,
  endpoints: ReadonlyArray<Endpoint>,
  question: dnsPacket.Question
): Answer => {
  const name = question.name.toLowerCase().replace(/\.$/, "")
  const domain = serviceDomain(spec)
  const none = { answers: [], authorities: [], additionals: [] }
  if (name !== spec.clusterDomain && !name.endsWith(`.${spec.clusterDomain}`)) return { rcode: RCODE.REFUSED, ...none }
  const nxdomain: Answer = { rcode: RCODE.NXDOMAIN, ...none, authorities: [soa(spec)] }
  const nodata: Answer = { rcode: RCODE.NOERROR, ...none, authorities: [soa(spec)] }
  const targets = endpoints.map((endpoint) => ({ endpoint, target: `${endpointLabel(endpoint)}.${domain}` }))
  const addressesOf = (records: ReadonlyArray<dnsPacket.Answer>) =>
    records.filter((record) => record.type === question.type)

  if (name === srvName(spec)) {
    if (endpoints.length === 0) return nxdomain
    if (question.type !== "SRV") return nodata
    const weight = Math.max(1, Math.floor(100 / endpoints.length))
    return {
      rcode: RCODE.NOERROR,
      answers: targets.map(({ target }) => ({
        type: "SRV" as const,
        name,
        ttl: spec.ttl,
        data: { priority: 0, weight, port: spec.port, target }
      })),
      authorities: [],
      additionals: targets.map(({ endpoint, target }) => addressRecord(target, endpoint.ip, spec.ttl))
    }
  }
  if (name === domain) {
    if (endpoints.length === 0) return nxdomain
    const answers = addressesOf(endpoints.map((endpoint) => addressRecord(name, endpoint.ip, spec.ttl)))
    return answers.length === 0 ? nodata : { rcode: RCODE.NOERROR, answers, authorities: [], additionals: [] }
  }
  const target = targets.find((candidate) => candidate.target === name)
  if (target === undefined) return nxdomain
  const answers = addressesOf([addressRecord(name, target.endpoint.ip, spec.ttl)])
  return answers.length === 0 ? nodata : { rcode: RCODE.NOERROR, answers, authorities: [], additionals: [] }
}

/**
 * The response to a query, encoded. Over UDP it is cut to the client's size (512 bytes without EDNS):
 * additional records go first, then answers, and TC is set so that the client asks again over TCP.
 */
export const respond = (
  spec: ServiceSpec,
  endpoints: ReadonlyArray<Endpoint>,
  query: dnsPacket.DecodedPacket,
  transport: "udp" | "tcp"
): Buffer => {
  const question = query.questions?.[0]
  const answer = question === undefined
    ? { rcode: RCODE.REFUSED, answers: [], authorities: [], additionals: [] }
    : resolve(spec, endpoints, question)
  const opt = query.additionals?.find((record) => record.type === "OPT") as dnsPacket.OptAnswer | undefined
  const limit = transport === "tcp" ? 65_535 : Math.max(UDP_LIMIT, opt?.udpPayloadSize ?? UDP_LIMIT)
  const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | answer.rcode
  const packet = (
    answers: ReadonlyArray<dnsPacket.Answer>,
    additionals: ReadonlyArray<dnsPacket.Answer>,
    truncated: boolean
  ) => ({
    type: "response" as const,
    id: query.id ?? 0,
    flags: flags | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: query.questions ?? [],
    answers: [...answers],
    authorities: [...answer.authorities],
    additionals: [...additionals]
  })
  const whole = packet(answer.answers, answer.additionals, false)
  if (dnsPacket.encodingLength(whole) <= limit) return dnsPacket.encode(whole)
  // The most answers that fit, found by bisection: an answer is re-encoded a few times, not once per record
  // (at 50 pods, once per record cost 2 ms a query, enough to stall the server under a retry storm).
  let fits = 0
  let tooMany = answer.answers.length + 1
  while (tooMany - fits > 1) {
    const middle = Math.floor((fits + tooMany) / 2)
    if (dnsPacket.encodingLength(packet(answer.answers.slice(0, middle), [], true)) <= limit) fits = middle
    else tooMany = middle
  }
  return dnsPacket.encode(packet(answer.answers.slice(0, fits), [], true))
}
