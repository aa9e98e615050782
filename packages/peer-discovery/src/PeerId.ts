/**
 * Peer ids and the DNS names they come from. A peer's id is the first label of its SRV target, which
 * every pod sees identically; this pod recognises itself among them by its dashed IP or its name.
 */
import { Brand, Option } from "effect"
import { fullyQualified } from "./internal/dnsName.js"
import type { Settings } from "./PeerDiscoveryConfig.js"

/** A peer's id: the first label of its SRV target, lower-cased (`10-244-1-5`, `miroir-0`). */
export type PeerId = string & Brand.Brand<"@miroir/peer-discovery/PeerId">

/** Brands a string as a {@link PeerId}; no check, for ids that come from DNS or tests. */
export const PeerId = Brand.nominal<PeerId>()

/**
 * The label CoreDNS gives a Deployment pod: its IP with `.` or `:` replaced by `-`. CoreDNS 1.12.3 and
 * later append `0` to a trailing `-` (`fd00::` gives `fd00--0`); this returns that current form.
 */
export const fromIp = (ip: string): PeerId => dashedIpForms(ip)[0]!

/**
 * Every label CoreDNS may have made of `ip`: for IPv6 ending in `::`, the current form (`fd00--0`)
 * first and the form of CoreDNS before 1.12.3 (`fd00--`) second.
 */
export const dashedIpForms = (ip: string): ReadonlyArray<PeerId> => {
  const address = ip.toLowerCase()
  if (!address.includes(":")) return [PeerId(address.replaceAll(".", "-"))]
  const dashed = address.replaceAll(":", "-")
  return dashed.endsWith("-") ? [PeerId(`${dashed}0`), PeerId(dashed)] : [PeerId(dashed)]
}

/** The domain of the headless Service: `<service>.<namespace>.svc.<domain>.` */
export const serviceDomain = (settings: Pick<Settings, "service" | "podNamespace" | "clusterDomain">): string =>
  fullyQualified(`${settings.service}.${settings.podNamespace}.svc.${settings.clusterDomain}`)

/** The SRV name of the Service's named port: `_<port>._<proto>.<service>.<namespace>.svc.<domain>.` */
export const srvName = (
  settings: Pick<Settings, "portName" | "protocol" | "service" | "podNamespace" | "clusterDomain">
): string => `_${settings.portName}._${settings.protocol}.${serviceDomain(settings)}`

/**
 * The id of an SRV target, if it lies directly under `domain` (from {@link serviceDomain}); a target
 * elsewhere is not a pod of this Service and gives none.
 */
export const fromTarget = (target: string, domain: string): Option.Option<PeerId> => {
  const name = fullyQualified(target)
  const suffix = `.${domain}`
  if (!name.endsWith(suffix)) return Option.none()
  const label = name.slice(0, -suffix.length)
  return label.length === 0 || label.includes(".") ? Option.none() : Option.some(PeerId(label))
}

/** How this pod recognises itself among the ids DNS lists. */
export interface SelfIdentity {
  /** Every id DNS may list this pod under: its dashed IP (both IPv6 forms) and its name. */
  readonly aliases: ReadonlySet<string>
  /** Its id while DNS does not list it: the dashed POD_IP, else POD_NAME. */
  readonly fallback: PeerId
}

/**
 * This pod's identity. Deployment pods are listed by dashed IP, StatefulSet pods by hostname (their
 * name), and pods behind CoreDNS's `endpoint_pod_names` by name: all three are aliases.
 */
export const identify = (settings: Pick<Settings, "podName" | "podIp">): SelfIdentity => {
  const name = PeerId(settings.podName.toLowerCase())
  const dashed = Option.match(settings.podIp, { onNone: () => [], onSome: dashedIpForms })
  return { aliases: new Set([...dashed, name]), fallback: dashed[0] ?? name }
}
