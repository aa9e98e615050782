/**
 * Parsing and applying `MIROIR_PEER_ADDRESS_TWIN`, a stand-in of the test harness for the pod network:
 * where pods cannot reach each other at the addresses the cluster gives them, it says where each of those
 * addresses is reached instead. The process kubelet gives a pod the IP `198.51.100.N` in the API (the
 * API server refuses loopback addresses in EndpointSlices) and runs its process on `127.0.2.N`, so it
 * sets `198.51.100.0/24=127.0.2.0/24`: a peer whose id says `198-51-100-7` is asked at `127.0.2.7`.
 *
 * Unset, addresses are used as they are; production never sets it.
 */
import { isIP } from "node:net"
import type { ConfigVariable } from "@miroir/peer-discovery"
import { Effect, Option, Result } from "effect"

/** Addresses of one IPv4 prefix reached at the same host part of another prefix of the same length. */
export interface AddressTwin {
  /** The prefix of the addresses the cluster gives (`198.51.100.0`), as an unsigned 32-bit number. */
  readonly from: number
  /** The prefix where those addresses are reached (`127.0.2.0`), as an unsigned 32-bit number. */
  readonly to: number
  /** The length of both prefixes, 1 to 32. */
  readonly prefixLength: number
}

/** What a value must look like, for the error message. */
const EXPECTED = "two IPv4 prefixes of the same length, as pod network=where it is reached, such as "
  + "198.51.100.0/24=127.0.2.0/24"

const toNumber = (ip: string): number => ip.split(".").reduce((value, octet) => value * 256 + Number(octet), 0)

const toText = (value: number): string => [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".")

/** The network mask of a prefix length, as an unsigned 32-bit number. */
const maskOf = (prefixLength: number): number => prefixLength === 0 ? 0 : (0xffff_ffff << (32 - prefixLength)) >>> 0

/** One side (`198.51.100.0/24`): its address and length, or what is wrong with it. */
const prefix = (text: string): Result.Result<{ readonly address: number; readonly length: number }, string> => {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text)
  if (match === null) return Result.fail(`${JSON.stringify(text)} is not an IPv4 prefix such as 198.51.100.0/24`)
  const [, ip, bits] = match as unknown as [string, string, string]
  // isIP refuses leading zeros and octets past 255, so that 010.0.0.1 is never read as 8.0.0.1.
  if (isIP(ip) !== 4) return Result.fail(`${ip} is not an IPv4 address`)
  const length = Number(bits)
  if (length < 1 || length > 32) return Result.fail(`/${bits} is not a prefix length from 1 to 32`)
  const address = toNumber(ip)
  if ((address & ~maskOf(length)) !== 0) {
    return Result.fail(
      `${text} has host bits set (the prefix is ${toText((address & maskOf(length)) >>> 0)}/${length})`
    )
  }
  return Result.succeed({ address, length })
}

/**
 * Parses `FROM/LEN=TO/LEN` (blanks around either side ignored); the error says what was expected and
 * what was wrong, for the `ConfigError` that names the variable.
 */
export const parseAddressTwin: ConfigVariable.Parse<AddressTwin> = (value) => {
  const sides = value.split("=").map((side) => side.trim())
  if (sides.length !== 2) {
    return Result.fail(`${EXPECTED} (one "=" between them, found ${sides.length - 1})`)
  }
  return Result.mapError(
    Result.flatMap(Result.all([prefix(sides[0]!), prefix(sides[1]!)]), ([from, to]) =>
      from.length === to.length
        ? Result.succeed({ from: from.address, to: to.address, prefixLength: from.length })
        : Result.fail(`/${from.length} and /${to.length} differ`)),
    (wrong) => `${EXPECTED} (${wrong})`
  )
}

/** The twin as the variable writes it (`198.51.100.0/24=127.0.2.0/24`), for logs. */
export const formatAddressTwin = ({ from, prefixLength, to }: AddressTwin): string =>
  `${toText(from)}/${prefixLength}=${toText(to)}/${prefixLength}`

/**
 * Where `address` is reached: the same host part in the twin prefix when `address` is an IPv4 address
 * of the `from` prefix; else (another address, IPv6, a name, or no twin) `address` as it is.
 */
export const reachedAt = (twin: Option.Option<AddressTwin>, address: string): string =>
  Option.match(twin, {
    onNone: () => address,
    onSome: ({ from, prefixLength, to }) => {
      if (isIP(address) !== 4) return address
      const value = toNumber(address)
      const mask = maskOf(prefixLength)
      return ((value & mask) >>> 0) === from ? toText(((to & mask) | (value & ~mask)) >>> 0) : address
    }
  })

/**
 * A warning when the twin is set, logged as the pod starts: a pod of a real cluster with it set would ask
 * its peers at the wrong addresses.
 */
export const warnIfSet = (twin: Option.Option<AddressTwin>): Effect.Effect<void> =>
  Option.match(twin, {
    onNone: () => Effect.void,
    onSome: (set) =>
      Effect.logWarning("MIROIR_PEER_ADDRESS_TWIN is set (test harnesses only): peers are asked at the twins").pipe(
        Effect.annotateLogs({ twin: formatAddressTwin(set) })
      )
  })
