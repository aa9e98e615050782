/**
 * The environment of a container, resolved the way the kubelet resolves it: the service links of the
 * pod's namespace first (unless `enableServiceLinks: false`; the `kubernetes` Service's always), then
 * `envFrom`, then `env` in order with `$(VAR)` expansion, Downward API `fieldRef` and
 * `resourceFieldRef`, and ConfigMap/Secret keys read from the API server. A reference it cannot
 * resolve is an error that names it, never an empty string.
 */
import type { IPod } from "kubernetes-models/v1/Pod"
import type { IIoK8sApiCoreV1Container as Container } from "kubernetes-models/v1/Container"
import type { IIoK8sApiCoreV1Service as KubeService } from "kubernetes-models/v1/Service"

/** What resolving needs besides the pod: its IPs, the node's, and the API's ConfigMaps, Secrets and Services. */
export interface EnvSources {
  readonly podIP: string
  readonly hostIP: string
  /** The `data` of a ConfigMap of the pod's namespace; undefined when it does not exist. */
  readonly configMap: (name: string) => Promise<Readonly<Record<string, string>> | undefined>
  /** The decoded `data` of a Secret of the pod's namespace; undefined when it does not exist. */
  readonly secret: (name: string) => Promise<Readonly<Record<string, string>> | undefined>
  /** The Services of a namespace (for service links). */
  readonly services: (namespace: string) => Promise<ReadonlyArray<KubeService>>
  /** What the node can give, for `resourceFieldRef` when the container sets no limit. */
  readonly allocatable: { readonly cpuMillis: number; readonly memoryBytes: number }
}

/** An environment variable that cannot be resolved. */
export class EnvError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`env ${variable}: ${reason}`)
  }
}

const SUFFIXES: Readonly<Record<string, number>> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60
}

/** A Kubernetes quantity (`256Mi`, `500m`, `1.5`, `2e3`) as a number; undefined when malformed. */
export const parseQuantity = (text: string): number | undefined => {
  const match = /^([+-]?\d+(?:\.\d+)?)(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(text.trim())
  if (match === null) return undefined
  const base = Number(match[1])
  if (match[2] !== undefined) return base * 10 ** Number(match[2].slice(1))
  return base * SUFFIXES[match[3] ?? ""]!
}

/** `$(VAR)` references to variables defined before, as the kubelet expands them; `$$` escapes. */
export const expand = (value: string, defined: ReadonlyMap<string, string>): string =>
  value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return "$"
    return defined.get(name) ?? whole
  })

const serviceEnvName = (name: string) => name.toUpperCase().replaceAll("-", "_")

/** The Docker-links-style variables of one Service, as the kubelet makes them. */
export const serviceLinks = (service: KubeService): Array<[string, string]> => {
  const ip = service.spec?.clusterIP
  const ports = service.spec?.ports ?? []
  const name = service.metadata?.name
  if (name === undefined || ip === undefined || ip === "" || ip === "None" || ports.length === 0) return []
  const prefix = serviceEnvName(name)
  const entries: Array<[string, string]> = [
    [`${prefix}_SERVICE_HOST`, ip],
    [`${prefix}_SERVICE_PORT`, String(ports[0]!.port)]
  ]
  for (const port of ports) {
    if (port.name !== undefined && port.name !== "") {
      entries.push([`${prefix}_SERVICE_PORT_${serviceEnvName(port.name)}`, String(port.port)])
    }
  }
  const first = ports[0]!
  const protocol = (first.protocol ?? "TCP").toLowerCase()
  entries.push([`${prefix}_PORT`, `${protocol}://${ip}:${first.port}`])
  for (const port of ports) {
    const proto = port.protocol ?? "TCP"
    const head = `${prefix}_PORT_${port.port}_${proto}`
    entries.push([head, `${proto.toLowerCase()}://${ip}:${port.port}`], [`${head}_PROTO`, proto.toLowerCase()], [
      `${head}_PORT`,
      String(port.port)
    ], [`${head}_ADDR`, ip])
  }
  return entries
}

const fieldValue = (pod: IPod, fieldPath: string, sources: EnvSources): string | undefined => {
  const metadata = pod.metadata ?? {}
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath)
  if (keyed !== null) return (keyed[1] === "labels" ? metadata.labels : metadata.annotations)?.[keyed[2]!] ?? ""
  switch (fieldPath) {
    case "metadata.name":
      return metadata.name
    case "metadata.namespace":
      return metadata.namespace
    case "metadata.uid":
      return metadata.uid
    case "spec.nodeName":
      return pod.spec?.nodeName
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "default"
    case "status.hostIP":
    case "status.hostIPs":
      return sources.hostIP
    case "status.podIP":
    case "status.podIPs":
      return sources.podIP
    default:
      return undefined
  }
}

const resourceValue = (
  container: Container,
  resource: string,
  divisor: string | number | undefined,
  sources: EnvSources
): number | undefined => {
  const [kind, name] = resource.split(".") as [string, string | undefined]
  const quantities = kind === "limits"
    ? container.resources?.limits
    : kind === "requests"
    ? container.resources?.requests
    : undefined
  if (quantities === undefined && kind !== "limits" && kind !== "requests") return undefined
  const set = quantities?.[name ?? ""]
  const value = set === undefined
    ? name === "memory"
      ? (kind === "limits" ? sources.allocatable.memoryBytes : 0)
      : name === "cpu"
      ? (kind === "limits" ? sources.allocatable.cpuMillis / 1000 : 0)
      : undefined
    : parseQuantity(String(set))
  const by = divisor === undefined ? 1 : parseQuantity(String(divisor))
  if (value === undefined || by === undefined || by === 0) return undefined
  // The kubelet rounds up to a whole number of divisors.
  return Math.ceil(value / by)
}

/** Resolves the environment of `container` of `pod`, in the kubelet's order of precedence. */
export const resolveEnv = async (
  pod: IPod,
  container: Container,
  sources: EnvSources
): Promise<Map<string, string>> => {
  const env = new Map<string, string>()
  const namespace = pod.metadata?.namespace ?? "default"
  const serviceLinkSources = [
    ...(await sources.services("default")).filter((service) => service.metadata?.name === "kubernetes")
  ]
  if (pod.spec?.enableServiceLinks !== false) {
    serviceLinkSources.push(
      ...(await sources.services(namespace)).filter((s) =>
        !(namespace === "default" && s.metadata?.name === "kubernetes")
      )
    )
  }
  for (const service of serviceLinkSources) for (const [key, value] of serviceLinks(service)) env.set(key, value)

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? ""
    const reference = from.configMapRef ?? from.secretRef
    const what = from.configMapRef !== undefined ? "ConfigMap" : "Secret"
    const data = from.configMapRef !== undefined
      ? await sources.configMap(from.configMapRef.name ?? "")
      : from.secretRef !== undefined
      ? await sources.secret(from.secretRef.name ?? "")
      : undefined
    if (data === undefined) {
      if (reference?.optional === true) continue
      throw new EnvError(
        `envFrom ${what} ${reference?.name ?? "?"}`,
        `${what} ${namespace}/${reference?.name ?? "?"} not found`
      )
    }
    for (const [key, value] of Object.entries(data)) env.set(`${prefix}${key}`, value)
  }

  for (const variable of container.env ?? []) {
    const name = variable.name
    if (variable.valueFrom === undefined) {
      env.set(name, expand(variable.value ?? "", env))
      continue
    }
    const { configMapKeyRef, fieldRef, resourceFieldRef, secretKeyRef } = variable.valueFrom
    if (fieldRef !== undefined) {
      const value = fieldValue(pod, fieldRef.fieldPath, sources)
      if (value === undefined) throw new EnvError(name, `unsupported fieldRef ${fieldRef.fieldPath}`)
      env.set(name, value)
    } else if (resourceFieldRef !== undefined) {
      const target = resourceFieldRef.containerName === undefined || resourceFieldRef.containerName === ""
        ? container
        : pod.spec?.containers.find((c) => c.name === resourceFieldRef.containerName)
      const value = target === undefined
        ? undefined
        : resourceValue(target, resourceFieldRef.resource, resourceFieldRef.divisor, sources)
      if (value === undefined) throw new EnvError(name, `unsupported resourceFieldRef ${resourceFieldRef.resource}`)
      env.set(name, String(value))
    } else if (configMapKeyRef !== undefined || secretKeyRef !== undefined) {
      const ref = (configMapKeyRef ?? secretKeyRef)!
      const what = configMapKeyRef !== undefined ? "ConfigMap" : "Secret"
      const data = configMapKeyRef !== undefined
        ? await sources.configMap(ref.name ?? "")
        : await sources.secret(ref.name ?? "")
      const value = data?.[ref.key]
      if (value === undefined) {
        if (ref.optional === true) continue
        throw new EnvError(
          name,
          data === undefined
            ? `${what} ${namespace}/${ref.name ?? "?"} not found`
            : `key ${ref.key} not in ${what} ${namespace}/${ref.name ?? "?"}`
        )
      }
      env.set(name, value)
    } else {
      throw new EnvError(name, "valueFrom names no source")
    }
  }
  return env
}
