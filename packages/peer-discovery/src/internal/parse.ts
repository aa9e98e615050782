/**
 * Parsers of the values peer discovery is configured with (addresses, DNS names, Kubernetes names),
 * as `ConfigVariable.Parse` functions: the parsed value, or a sentence saying what was expected.
 * The parsers every configuration shares (words, integers, durations) are in ConfigVariable.
 */
import { isIP } from "node:net"
import { Result } from "effect"
import { MAX_PORT } from "../ConfigVariable.js"

/** A parse result: the value, or what the input should have looked like. */
type Parsed<A> = Result.Result<A, string>

/** An IPv4 or IPv6 address, returned in canonical form (lower-case, IPv6 compressed as RFC 5952). */
export const ipAddress = (raw: string): Parsed<string> => {
  const text = raw.trim()
  switch (isIP(text)) {
    case 4:
      return Result.succeed(text)
    case 6:
      return Result.succeed(canonicalIpv6(text))
    default:
      return Result.fail("an IPv4 or IPv6 address such as 10.244.1.5 or fd00::1")
  }
}

/** RFC 5952 form of a valid IPv6 address, the form Kubernetes writes into status.podIP. */
const canonicalIpv6 = (address: string): string => new URL(`http://[${address}]/`).hostname.slice(1, -1)

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const RFC1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/

/** A Kubernetes object name usable as a DNS label (RFC 1123: lower-case alphanumerics and '-'). */
export const dnsLabel = (raw: string): Parsed<string> =>
  RFC1123_LABEL.test(raw)
    ? Result.succeed(raw)
    : Result.fail("a DNS label: 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit")

/** A Service name (RFC 1035 label: starts with a letter). */
export const serviceName = (raw: string): Parsed<string> =>
  RFC1035_LABEL.test(raw)
    ? Result.succeed(raw)
    : Result.fail("a Service name: 1-63 lower-case letters, digits or '-', starting with a letter")

/** A Service port name as it appears in an SRV name (`_<name>._tcp…`). */
export const portName = (raw: string): Parsed<string> => {
  const name = raw.trim().toLowerCase()
  return RFC1123_LABEL.test(name) && name.length <= 15
    ? Result.succeed(name)
    : Result.fail("a Service port name: 1-15 lower-case letters, digits or '-', as in the Service's ports[].name")
}

/** A DNS domain such as `cluster.local`, without the trailing dot, lower-cased. */
export const domainName = (raw: string): Parsed<string> => {
  const domain = raw.trim().toLowerCase().replace(/\.$/, "")
  return domain.length > 0 && domain.length <= 253 && domain.split(".").every((label) => RFC1123_LABEL.test(label))
    ? Result.succeed(domain)
    : Result.fail("a DNS domain such as cluster.local")
}

const IPV6_WITH_PORT = /^\[([^\]]+)\](?::(\d+))?$/
const IPV4_WITH_PORT = /^([^:]+)(?::(\d+))?$/

/**
 * A comma-separated list of DNS servers, each `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port`, returned in
 * the form node:dns `Resolver#setServers` takes. Host names are refused: a resolver cannot resolve its
 * own server's name.
 */
export const dnsServers = (raw: string): Parsed<ReadonlyArray<string>> => {
  const expected = (entry: string) =>
    `a comma-separated list of IP addresses with optional ports, such as 127.0.0.1:5353 or [::1]:53 (entry "${entry}" is not one)`
  const entries = raw.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  if (entries.length === 0) return Result.fail(expected(raw))
  const servers: Array<string> = []
  for (const entry of entries) {
    const bracketed = IPV6_WITH_PORT.exec(entry)
    const plain = bracketed ? null : isIP(entry) === 6 ? [entry, entry, undefined] : IPV4_WITH_PORT.exec(entry)
    const host = bracketed?.[1] ?? plain?.[1]
    const port = bracketed ? bracketed[2] : plain?.[2]
    const family = host === undefined ? 0 : isIP(host)
    if (family === 0 || (bracketed && family !== 6) || (port !== undefined && !isPort(port))) {
      return Result.fail(expected(entry))
    }
    const address = family === 6 ? `[${canonicalIpv6(host!)}]` : host!
    servers.push(port === undefined ? (family === 6 ? address.slice(1, -1) : address) : `${address}:${Number(port)}`)
  }
  return Result.succeed(servers)
}

const isPort = (text: string): boolean => {
  const port = Number(text)
  return Number.isInteger(port) && port >= 1 && port <= MAX_PORT
}
