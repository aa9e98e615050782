/**
 * The parts of a rendered release that discovery depends on, picked out of its objects: the
 * Deployment, its container and env, the headless Service that env names. Missing parts are errors
 * naming what is missing, so a test fails on the wiring rather than on an undefined.
 */
import { PeerDiscoveryConfig } from "@miroir/peer-discovery"
import { expect } from "vitest"
import type { KubeObject } from "./helm.js"

/** A container's env variable as rendered. */
export interface EnvVar {
  readonly name: string
  readonly value?: string
  readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string } }
}

/** What the tests look at. */
export interface Release {
  readonly objects: ReadonlyArray<KubeObject>
  readonly deployment: KubeObject
  readonly container: any
  readonly env: ReadonlyMap<string, EnvVar>
  readonly services: ReadonlyArray<KubeObject>
  /** The Service MIROIR_PEER_DISCOVERY_SERVICE names. */
  readonly headless: KubeObject
}

const only = (objects: ReadonlyArray<KubeObject>, kind: string): KubeObject => {
  const found = objects.filter((object) => object.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`)
  return found[0]!
}

/** Picks the parts out of `objects`; throws when the Deployment or the headless Service is not there. */
export const release = (objects: ReadonlyArray<KubeObject>): Release => {
  const deployment = only(objects, "Deployment")
  const containers: Array<any> = deployment.spec?.template?.spec?.containers ?? []
  const container = containers.find((c) => c.name === "miroir")
  if (container === undefined) throw new Error(`no container named miroir in ${deployment.metadata.name}`)
  const env = new Map<string, EnvVar>((container.env ?? []).map((variable: EnvVar) => [variable.name, variable]))
  const services = objects.filter((object) => object.kind === "Service")
  const headlessName = env.get(PeerDiscoveryConfig.Variables.service)?.value
  if (headlessName === undefined) {
    throw new Error(`${PeerDiscoveryConfig.Variables.service} is not set on the container`)
  }
  const headless = services.find((service) => service.metadata.name === headlessName)
  if (headless === undefined) {
    throw new Error(
      `${PeerDiscoveryConfig.Variables.service}=${headlessName} names no Service of the release (${
        services.map((s) => s.metadata.name).join(", ")
      })`
    )
  }
  return { objects, deployment, container, env, services, headless }
}

/** The plain (non-valueFrom) env values, as the pod process would read them from its environment. */
export const plainEnv = (env: ReadonlyMap<string, EnvVar>): Map<string, string> =>
  new Map(
    [...env.values()].flatMap((
      variable
    ) => (variable.value === undefined ? [] : [[variable.name, variable.value] as const]))
  )

/** Whether `labels` carries every pair of `selector` (how a Kubernetes equality selector matches). */
export const selects = (
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined
): boolean =>
  selector !== undefined && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([key, value]) => labels?.[key] === value)

/** A container port by name or number, as a Service's targetPort or a probe's port refers to it. */
export const containerPort = (container: any, port: string | number): number | undefined =>
  typeof port === "number"
    ? (container.ports ?? []).some((p: any) => p.containerPort === port) ? port : undefined
    : (container.ports ?? []).find((p: any) => p.name === port)?.containerPort

/**
 * Checks what the chart and the kustomize base both promise: no API token mounted (the pods never call
 * the API), non-root with the runtime's seccomp profile, and a container that cannot gain privileges,
 * write its root filesystem or keep a capability.
 */
export const expectLockedDown = (deployment: KubeObject, container: any): void => {
  const pod = deployment.spec.template.spec
  expect(pod.automountServiceAccountToken).toBe(false)
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } })
  expect(container.securityContext).toMatchObject({
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] }
  })
}
