/**
 * The DNS wire format of our own client (on dns-packet): the query we send, a decoder that says when a
 * reply was cut short instead of throwing, the check that a reply answers our query, and what a reply
 * means for the lookup. Pure functions; the transports are in dnsTransport.ts.
 */
import dnsPacket from "dns-packet"
import type { DnsOutcome } from "../DnsLookupError.js"
import { fullyQualified } from "./dnsName.js"

/** The record types the client asks for. */
export type QueryType = "SRV" | "A" | "AAAA"

/** One question: a fully-qualified name and a type (class IN). */
export interface Question {
  readonly name: string
  readonly type: QueryType
}

/**
 * The UDP payload size advertised with EDNS0: the DNS Flag Day 2020 value, which fits an unfragmented
 * packet on any path. Answers up to it (an SRV set of about 16 pods) come in one UDP round trip instead of
 * a truncated UDP answer and a TCP retry; larger ones come over TCP.
 */
export const EDNS_PAYLOAD_SIZE = 1232

/** The query for `question` with id `id`: recursion desired, and an EDNS0 OPT record. */
export const encodeQuery = (id: number, question: Question): Buffer =>
  dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: question.type, name: question.name.replace(/\.$/, ""), class: "IN" }],
    additionals: [{
      type: "OPT",
      name: ".",
      udpPayloadSize: EDNS_PAYLOAD_SIZE,
      extendedRcode: 0,
      ednsVersion: 0,
      flags: 0,
      flag_do: false,
      options: []
    }]
  })

/** A decoded reply: the header, the question, and the answer records that could be read. */
export interface Reply {
  readonly id: number
  readonly isResponse: boolean
  readonly opcode: number
  /** The TC flag: the server says the answer did not fit. */
  readonly truncated: boolean
  readonly rcode: number
  readonly questions: ReadonlyArray<{ readonly name: string; readonly type: string; readonly class: string }>
  readonly answers: ReadonlyArray<dnsPacket.Answer>
  /** Records of the additional section other than EDNS's OPT. */
  readonly extraRecords: number
  /** The A and AAAA records of the additional section (the addresses of SRV targets, where sent). */
  readonly extraAddresses: ReadonlyArray<dnsPacket.Answer>
  /** False when the message ended before the records its header announces: it was cut short in transit. */
  readonly complete: boolean
}

/** dns-packet's record codecs; exported by the library, missing from its type definitions. */
interface Codec<A> {
  readonly decode: ((buf: Buffer, offset: number) => A) & { readonly bytes: number }
}
const codecs = dnsPacket as unknown as {
  readonly question: Codec<{ name: string; type: string; class: string }>
  readonly answer: Codec<dnsPacket.Answer>
}

const HEADER_BYTES = 12

/**
 * Decodes a reply. Undefined when it cannot be matched to a query at all (shorter than a header, or an
 * undecodable question); a reply whose answer records run past its end is returned with what could be
 * read and `complete: false` — dns-packet's own decoder would throw and lose the difference between
 * "malformed" and "cut short". Authority records are read only to be counted; of the additional
 * records, the addresses (A, AAAA) are kept.
 */
export const decodeReply = (message: Buffer, cutShort = false): Reply | undefined => {
  if (message.length < HEADER_BYTES) return undefined
  const flags = message.readUInt16BE(2)
  const questionCount = message.readUInt16BE(4)
  const answerCount = message.readUInt16BE(6)
  const authorityCount = message.readUInt16BE(8)
  const additionalCount = message.readUInt16BE(10)
  let offset = HEADER_BYTES
  const questions: Array<{ name: string; type: string; class: string }> = []
  try {
    for (let i = 0; i < questionCount; i++) {
      questions.push(codecs.question.decode(message, offset))
      offset += codecs.question.decode.bytes
    }
  } catch {
    return undefined
  }
  if (offset > message.length) return undefined
  let ended = false
  /** The next `count` records, as far as they can be read; a record past the end sets `ended`. */
  const records = (count: number): Array<dnsPacket.Answer> => {
    const read: Array<dnsPacket.Answer> = []
    for (let i = 0; i < count && !ended; i++) {
      try {
        const record = codecs.answer.decode(message, offset)
        offset += codecs.answer.decode.bytes
        // Buffer reads are bounds-checked, but some record decoders slice, which is not: check the end too.
        if (offset > message.length) ended = true
        else read.push(record)
      } catch {
        ended = true
      }
    }
    return read
  }
  const answers = records(answerCount)
  records(authorityCount)
  const extras = records(additionalCount).filter((record) => record.type !== "OPT")
  return {
    id: message.readUInt16BE(0),
    isResponse: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    truncated: (flags & dnsPacket.TRUNCATED_RESPONSE) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
    extraRecords: extras.length,
    extraAddresses: extras.filter((record) => (record.type === "A" || record.type === "AAAA") && record.class === "IN"),
    complete: !cutShort && !ended
  }
}

/**
 * Whether `reply` answers the query `id` for `question`: a response, a standard query, the same id and
 * exactly the same question (names compared case-insensitively). Anything else is ignored — it may be a
 * late answer to an abandoned query or a spoofing attempt.
 */
export const answers = (reply: Reply, id: number, question: Question): boolean =>
  reply.isResponse &&
  reply.opcode === 0 &&
  reply.id === id &&
  reply.questions.length === 1 &&
  fullyQualified(reply.questions[0]!.name) === question.name &&
  reply.questions[0]!.type === question.type &&
  reply.questions[0]!.class === "IN"

/** What a reply means for the lookup. */
export type Verdict =
  /**
   * Records of the question's name and type (possibly none: no data), how many of another owner were
   * dropped, and the addresses of the additional section (what the answer's names resolve to, as sent).
   */
  | {
    readonly _tag: "Records"
    readonly records: ReadonlyArray<dnsPacket.Answer>
    readonly otherOwner: number
    readonly extraAddresses: ReadonlyArray<dnsPacket.Answer>
  }
  /** A UDP reply that does not hold the whole answer: ask again over TCP. */
  | { readonly _tag: "RetryOverTcp" }
  /** No usable records; `received` counts the records of a truncated answer. */
  | { readonly _tag: "Failure"; readonly outcome: DnsOutcome; readonly code: string; readonly received?: number }

const RCODES: Record<number, string> = { 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED" }

/**
 * The verdict on a reply that {@link answers} the query. A reply marked truncated, or cut short, is
 * never taken as the answer: over UDP it is asked again over TCP, over TCP it is a `truncated` failure.
 * (c-ares takes a TCP reply with TC set as complete; unbound past about 915 SRV records sends TC with no
 * records at all over TCP, which c-ares reported as "no data".) One exception over TCP: TC with records
 * in the additional section. Servers drop additional records before answers (miekg/dns `Truncate`, which
 * CoreDNS uses, fits the answers first and sets TC when it leaves out any record, extras included), so
 * such a reply holds every answer and only lacks extras discovery does not use. Records of another owner
 * name are dropped and counted: a server, or a spoofer, cannot add peers under a name we did not ask.
 */
export const verdict = (reply: Reply, question: Question, transport: "udp" | "tcp"): Verdict => {
  switch (reply.rcode) {
    case 0:
      break
    case 2:
      return { _tag: "Failure", outcome: "servfail", code: "SERVFAIL" }
    case 3:
      return { _tag: "Failure", outcome: "nxdomain", code: "NXDOMAIN" }
    case 5:
      return { _tag: "Failure", outcome: "refused", code: "REFUSED" }
    default:
      return { _tag: "Failure", outcome: "error", code: RCODES[reply.rcode] ?? `RCODE${reply.rcode}` }
  }
  const ofType = reply.answers.filter((record) => record.type === question.type && record.class === "IN")
  const owned = ofType.filter((record) => fullyQualified(record.name) === question.name)
  const onlyExtrasDropped = transport === "tcp" && reply.complete && reply.extraRecords > 0
  if ((reply.truncated && !onlyExtrasDropped) || !reply.complete) {
    return transport === "udp"
      ? { _tag: "RetryOverTcp" }
      : { _tag: "Failure", outcome: "truncated", code: reply.truncated ? "TC" : "SHORT", received: owned.length }
  }
  return {
    _tag: "Records",
    records: owned,
    otherOwner: ofType.length - owned.length,
    extraAddresses: reply.extraAddresses
  }
}
