/** The process kubelet resolves a container's environment the way the kubelet does. */
import type { IPod } from "kubernetes-models/v1/Pod"
import type { IIoK8sApiCoreV1Service as KubeService } from "kubernetes-models/v1/Service"
import { describe, expect, it } from "vitest"
import { EnvError, expand, parseQuantity, resolveEnv, serviceLinks } from "../../src/kube/internal/podEnv.js"

const service = (
  namespace: string,
  name: string,
  clusterIP: string,
  ports: Array<{ name?: string; port: number }>
): KubeService => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { namespace, name },
  spec: { clusterIP, ports }
})

const sources = {
  podIP: "127.0.2.10",
  hostIP: "127.0.0.1",
  allocatable: { cpuMillis: 2000, memoryBytes: 8 * 2 ** 30 },
  configMap: async (name: string) => (name === "settings" ? { LEVEL: "debug", FORMAT: "json" } : undefined),
  secret: async (name: string) => (name === "token" ? { value: "s3cret" } : undefined),
  services: async (namespace: string) =>
    namespace === "default"
      ? [
        service("default", "kubernetes", "10.96.0.1", [{ name: "https", port: 443 }]),
        service("default", "miroir", "10.96.0.20", [{ name: "http", port: 7700 }])
      ]
      : [service(namespace, "miroir-headless", "None", [{ name: "http", port: 7700 }])]
}

const pod = (
  env: NonNullable<NonNullable<IPod["spec"]>["containers"][number]["env"]>,
  extra: Partial<NonNullable<IPod["spec"]>> = {}
): IPod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "miroir-abc", namespace: "default", uid: "u-1", labels: { app: "miroir" } },
  spec: {
    nodeName: "process-kubelet",
    containers: [{ name: "miroir", image: "miroir", env, resources: { limits: { memory: "256Mi" } } }],
    ...extra
  }
})

const resolve = (p: IPod) => resolveEnv(p, p.spec!.containers[0]!, sources)

describe("the process kubelet's environment", () => {
  it("gives the Downward API fields, plain values with $(VAR) expansion, and the service links", async () => {
    const env = await resolve(pod([
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: "GREETING", value: "I am $(POD_NAME) at $(POD_IP), $(UNDEFINED) stays, $$(POD_NAME) escapes" }
    ]))
    expect(env.get("POD_NAME")).toBe("miroir-abc")
    expect(env.get("POD_NAMESPACE")).toBe("default")
    expect(env.get("POD_IP")).toBe("127.0.2.10")
    expect(env.get("APP")).toBe("miroir")
    expect(env.get("GREETING")).toBe("I am miroir-abc at 127.0.2.10, $(UNDEFINED) stays, $(POD_NAME) escapes")
    expect(env.get("KUBERNETES_SERVICE_HOST")).toBe("10.96.0.1")
    expect(env.get("MIROIR_SERVICE_PORT_HTTP")).toBe("7700")
    expect(env.get("MIROIR_PORT")).toBe("tcp://10.96.0.20:7700")
  })

  it("leaves out the namespace's service links when enableServiceLinks is false, but not the API server's", async () => {
    const env = await resolve(pod([], { enableServiceLinks: false }))
    expect(env.get("KUBERNETES_SERVICE_HOST")).toBe("10.96.0.1")
    expect(env.has("MIROIR_PORT")).toBe(false)
  })

  it("reads ConfigMap and Secret keys and envFrom, and container limits through resourceFieldRef", async () => {
    const p = pod([
      { name: "LEVEL", valueFrom: { configMapKeyRef: { name: "settings", key: "LEVEL" } } },
      { name: "TOKEN", valueFrom: { secretKeyRef: { name: "token", key: "value" } } },
      { name: "MEMORY_MI", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
      { name: "OPTIONAL", valueFrom: { configMapKeyRef: { name: "absent", key: "x", optional: true } } }
    ])
    p.spec!.containers[0]!.envFrom = [{ configMapRef: { name: "settings" }, prefix: "CM_" }]
    const env = await resolve(p)
    expect(env.get("LEVEL")).toBe("debug")
    expect(env.get("TOKEN")).toBe("s3cret")
    expect(env.get("MEMORY_MI")).toBe("256")
    expect(env.get("CM_FORMAT")).toBe("json")
    expect(env.has("OPTIONAL")).toBe(false)
  })

  it("refuses what it cannot resolve, naming the variable, instead of an empty string", async () => {
    await expect(resolve(pod([{ name: "X", valueFrom: { fieldRef: { fieldPath: "status.phase" } } }]))).rejects.toThrow(
      new EnvError("X", "unsupported fieldRef status.phase")
    )
    await expect(resolve(pod([{ name: "Y", valueFrom: { configMapKeyRef: { name: "absent", key: "k" } } }]))).rejects
      .toThrow(
        /env Y: ConfigMap default\/absent not found/
      )
    await expect(resolve(pod([{ name: "Z", valueFrom: { configMapKeyRef: { name: "settings", key: "nope" } } }])))
      .rejects.toThrow(
        /env Z: key nope not in ConfigMap default\/settings/
      )
  })

  it("parses quantities and expands only defined variables", () => {
    expect(parseQuantity("256Mi")).toBe(256 * 2 ** 20)
    expect(parseQuantity("500m")).toBe(0.5)
    expect(parseQuantity("2e3")).toBe(2000)
    expect(parseQuantity("12 apples")).toBeUndefined()
    expect(expand("$(A)-$(B)", new Map([["A", "1"]]))).toBe("1-$(B)")
    expect(serviceLinks(service("x", "headless", "None", [{ port: 1 }]))).toEqual([])
  })
})
