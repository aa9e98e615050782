/**
 * A real node: the kubelet v1.37.2 built from k8s.io/kubernetes registers with the harness's
 * kube-apiserver and runs a pod of a locally built image (agnhost's netexec, imported into containerd
 * 2.3.4, run by runc 1.4.3) in a network namespace of its own, with an address of the node's pod CIDR on
 * the CNI bridge; the kubelet's own readiness probe makes it Ready, the test reaches it over HTTP from
 * the machine, and CoreDNS answers from inside the pod's namespace on the node's address. kube-scheduler
 * binds the pod (the node-lifecycle controller has lifted the not-ready taint the kubelet registers with)
 * and kube-proxy (nftables mode) carries the pod's own connection to its Service's ClusterIP back to it.
 * Deleting the pod leaves the node clean (no task, no namespace, no veth, no lease), and closing the
 * scope the machine (no kube-proxy table, no blackhole the run added).
 *
 * Nothing is skipped: without root, the components (scripts/install-test-deps.sh) or what the kernel must
 * offer, the test fails with the node's exact error.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { INode } from "kubernetes-models/v1/Node"
import type { IPod } from "kubernetes-models/v1/Pod"
import { Duration, Effect, Option, Schedule } from "effect"
import { describe, expect, it } from "vitest"
import * as ControlPlane from "../../src/kube/ControlPlane.js"
import * as CoreDns from "../../src/kube/CoreDns.js"
import { run } from "../../src/kube/internal/host.js"
import * as Node from "../../src/kube/Node.js"

/** The machine's blackhole routes (a run must leave none it added). */
const blackholeRoutes = () =>
  execFileSync("ip", ["-4", "route", "show", "type", "blackhole"], { encoding: "utf8" }).split("\n").filter((l) =>
    l.trim() !== ""
  ).sort()

const POD = "netexec"
const PORT = 8080

const inCidr = (ip: string, cidr: string) => {
  const [base, bits] = cidr.split("/") as [string, string]
  const toInt = (a: string) => a.split(".").reduce((n, octet) => n * 256 + Number(octet), 0)
  const mask = 2 ** 32 - 2 ** (32 - Number(bits))
  return (toInt(ip) & mask) >>> 0 === (toInt(base) & mask) >>> 0
}

/** Repeats `get` every 250 ms until `done` holds, within `timeout`; fails with `explain()` otherwise. */
const awaitState = <A, E>(
  what: string,
  get: Effect.Effect<A, E>,
  done: (a: A) => boolean,
  timeout: Duration.Input,
  explain: (last: A | undefined) => Effect.Effect<string>
) =>
  Effect.gen(function*() {
    let last: A | undefined
    const result = yield* get.pipe(
      Effect.tap((a) => Effect.sync(() => (last = a))),
      Effect.repeat({ schedule: Schedule.spaced(Duration.millis(250)), until: done }),
      Effect.timeoutOption(timeout)
    )
    if (Option.isNone(result)) {
      return yield* Effect.fail(new Error(`timed out waiting for ${what}:\n${yield* explain(last)}`))
    }
    return result.value
  })

describe("a real node", () => {
  it("runs a pod of a locally built image under the real kubelet registered with the API server", async () => {
    const folder = mkdtempSync(join(tmpdir(), "miroir-node-"))
    const routesBefore = blackholeRoutes()
    try {
      await Effect.runPromise(
        Effect.scoped(Effect.gen(function*() {
          const started = Date.now()
          const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`
          const controlPlane = yield* ControlPlane.make(join(folder, "control-plane"))
          yield* Effect.logInfo(`control plane ready at ${since()}`)
          const network = yield* Node.network()
          yield* CoreDns.make(join(folder, "control-plane"), controlPlane.kubeconfig, {
            podAddress: network.address
          })
          const node = yield* Node.make({ folder: join(folder, "node"), controlPlane, network })
          yield* Effect.logInfo(`node ${node.name} registered and Ready at ${since()} (pod CIDR ${network.podCidr})`)
          const api = controlPlane.api
          const kubeletLog = () =>
            Effect.sync(() => node.logs.kubelet).pipe(
              Effect.flatMap((file) => run("tail", ["-n", "40", file])),
              Effect.orElseSucceed(() => "")
            )

          // Registered by the kubelet itself: the real versions, the node's address, its pod CIDR.
          const registered = yield* api.request<INode>("GET", `/api/v1/nodes/${node.name}`)
          expect(registered.status?.nodeInfo?.kubeletVersion).toBe(controlPlane.version)
          expect(registered.status?.nodeInfo?.containerRuntimeVersion).toBe("containerd://2.3.4")
          expect(registered.status?.addresses).toContainEqual({ type: "InternalIP", address: network.address })

          // Schedulable: the node-lifecycle controller lifts the taint the kubelet registered the Node with.
          yield* awaitState(
            "the node's not-ready taint to be lifted",
            api.request<INode>("GET", `/api/v1/nodes/${node.name}`),
            (n) => (n.spec?.taints ?? []).every((t) => t.key !== "node.kubernetes.io/not-ready"),
            Duration.seconds(60),
            (last) => Effect.succeed(JSON.stringify(last?.spec?.taints))
          )

          // A ClusterIP Service in front of the pod, for kube-proxy.
          const service = yield* api.request<{ spec: { clusterIP: string } }>(
            "POST",
            "/api/v1/namespaces/default/services",
            {
              apiVersion: "v1",
              kind: "Service",
              metadata: { name: POD, namespace: "default" },
              spec: { selector: { app: POD }, ports: [{ name: "http", port: 80, targetPort: PORT }] }
            }
          )
          const clusterIP = service.spec.clusterIP

          // A pod of the agnhost image (built with buildah, imported, never pulled), with a readiness probe;
          // no nodeName: kube-scheduler binds it.
          yield* api.request("POST", "/api/v1/namespaces/default/pods", {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: POD, namespace: "default", labels: { app: POD } },
            spec: {
              terminationGracePeriodSeconds: 5,
              containers: [{
                name: POD,
                image: node.images.agnhost,
                imagePullPolicy: "Never",
                // netexec is ready (/readyz) once its UDP server (8081) listens too.
                args: ["netexec", `--http-port=${PORT}`],
                ports: [{ containerPort: PORT, name: "http" }],
                readinessProbe: { httpGet: { path: "/readyz", port: PORT }, periodSeconds: 1 }
              }]
            }
          })
          const podPath = `/api/v1/namespaces/default/pods/${POD}`
          const pod = yield* awaitState(
            "the pod to be Running and Ready",
            api.request<IPod>("GET", podPath),
            (p) =>
              p.status?.phase === "Running" &&
              p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
            Duration.seconds(120),
            (last) =>
              kubeletLog().pipe(
                Effect.map((log) => `pod status: ${JSON.stringify(last?.status, null, 1)}\nkubelet's log:\n${log}`)
              )
          )
          const podIP = pod.status?.podIP ?? ""
          yield* Effect.logInfo(`pod Running and Ready at ${since()}, IP ${podIP}`)
          expect(pod.spec?.nodeName).toBe(node.name)
          expect(inCidr(podIP, network.podCidr), `${podIP} in ${network.podCidr}`).toBe(true)
          expect(pod.status?.containerStatuses?.[0]?.imageID).toMatch(/sha256:[0-9a-f]{64}/)

          // Its own network namespace (under containerd's state dir), which holds the pod's IP.
          const namespaces = readdirSync(node.netnsFolder)
          expect(namespaces).toHaveLength(1)
          const netns = join(node.netnsFolder, namespaces[0]!)
          expect(statSync(netns).ino).not.toBe(statSync("/proc/self/ns/net").ino)
          const addresses = yield* run("nsenter", [`--net=${netns}`, "ip", "-o", "-4", "addr", "show"])
          expect(addresses).toContain(`${podIP}/24`)

          // Reached from the machine over the bridge: it answers with its name and sees the node's address.
          const answer = (path: string) =>
            Effect.tryPromise(() => fetch(`http://${podIP}:${PORT}${path}`).then((r) => r.text()))
          expect(yield* answer("/hostname")).toBe(POD)
          expect((yield* answer("/clientip")).split(":")[0]).toBe(network.address)

          // The cluster DNS from inside the pod's namespace: CoreDNS on the node's address, port 53.
          const lookup = [
            "const r = new (require('node:dns').promises.Resolver)();",
            `r.setServers(['${network.address}']);`,
            "r.resolve4('kubernetes.default.svc.cluster.local').then((a) => console.log(a.join(',')),",
            "(e) => { console.error(e.message); process.exit(1) })"
          ].join(" ")
          const resolved = yield* run("nsenter", [`--net=${netns}`, process.execPath, "-e", lookup])
          expect(resolved.trim()).toBe("10.96.0.1")

          // The pod reaches its own Service's ClusterIP (kube-proxy's DNAT, masqueraded back through the node).
          const viaService = [
            `fetch('http://${clusterIP}/hostname', { signal: AbortSignal.timeout(2000) })`,
            ".then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(e.message); process.exit(1) })"
          ].join("")
          const hostname = yield* awaitState(
            `the pod to reach its Service at ${clusterIP}`,
            run("nsenter", [`--net=${netns}`, process.execPath, "-e", viaService]).pipe(
              Effect.map((out) => out.trim()),
              Effect.orElseSucceed(() => "")
            ),
            (out) => out === POD,
            Duration.seconds(30),
            (last) => Effect.succeed(`last answer: ${JSON.stringify(last)}`)
          )
          expect(hostname).toBe(POD)
          yield* Effect.logInfo(`the pod reached its Service ${clusterIP} at ${since()}`)

          // Deleted: gone from the API once the kubelet has stopped it, and nothing of it left on the node.
          yield* api.request("DELETE", podPath)
          yield* awaitState(
            "the pod to be gone",
            api.request<IPod>("GET", podPath).pipe(
              Effect.as(false),
              Effect.catchTag("KubeApiError", (e) => e.status === 404 ? Effect.succeed(true) : Effect.fail(e))
            ),
            (gone) => gone,
            Duration.seconds(60),
            () => kubeletLog()
          )
          yield* awaitState(
            "the node to be clean",
            node.leftovers,
            (left) =>
              left.tasks.length === 0 && left.netns.length === 0 && left.bridgePorts.length === 0 &&
              left.leases.length === 0,
            Duration.seconds(30),
            (last) => Effect.succeed(JSON.stringify(last))
          )
          yield* Effect.logInfo(`pod deleted and the node clean at ${since()}`)
        }))
      )
      // The machine as it was: kube-proxy's tables gone, no blackhole the run added.
      expect(await Effect.runPromise(run("nft", ["list", "tables"]))).not.toContain("kube-proxy")
      expect(blackholeRoutes()).toEqual(routesBefore)
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
