/**
 * The `helm test` pod: rendered as a hook, kept out of the Services' selection, and its command (the
 * `node -e` script the image runs) run here against a loopback server answering /peers as a pod would.
 */
import { createServer, type Server } from "node:http"
import { exited, start } from "@miroir/test-support/processKitAsPromises"
import { afterEach, describe, expect, it } from "vitest"
import { render } from "./support/helm.js"
import { release, selects } from "./support/rendered.js"

const testPod = async () => {
  const objects = await render("search", "search", {})
  const pod = objects.find((o) => o.kind === "Pod")
  if (pod === undefined) throw new Error("no test pod rendered")
  return { pod, objects }
}

let server: Server | undefined
afterEach(() => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))))

/** Serves `bodies` in turn (the last one repeated) at /peers on 127.0.0.1; returns the URL. */
const serve = (bodies: ReadonlyArray<unknown>) =>
  new Promise<string>((resolve) => {
    let served = 0
    server = createServer((request, response) => {
      const body = bodies[Math.min(served++, bodies.length - 1)]
      response.writeHead(request.url === "/peers" ? 200 : 404, { "content-type": "application/json" }).end(
        JSON.stringify(body)
      )
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server!.address()
      resolve(`http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/peers`)
    })
  })

/** Runs the rendered container's command with its env, the URL replaced by `url`. */
const runCheck = async (url: string, timeoutSeconds: number) => {
  const { pod } = await testPod()
  const container = pod.spec.containers[0]
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value]))
  const [command, ...args] = container.command as Array<string>
  expect(command).toBe("node")
  const started = start(process.execPath, args, {
    env: { PATH: process.env.PATH, ...env, MIROIR_TEST_URL: url, MIROIR_TEST_TIMEOUT_SECONDS: String(timeoutSeconds) }
  })
  const ended = await exited(started)
  return { code: ended.code, output: started.output() }
}

const peers = (count: number, extra: Record<string, unknown> = {}) => ({
  peers: Array.from({ length: count }, (_, i) => `10-0-0-${i + 1}`),
  stale: false,
  selfInDns: true,
  digest: "abc",
  ...extra
})

describe("helm test hook", () => {
  it("is a test hook pod the release's Services and budget do not select, asking /peers of the release's Service for every replica", async () => {
    const { pod, objects } = await testPod()
    expect(pod.metadata.annotations?.["helm.sh/hook"]).toBe("test")
    const selector = release(objects).deployment.spec.selector.matchLabels
    expect(selects(selector, pod.metadata.labels)).toBe(false)
    const env = Object.fromEntries(pod.spec.containers[0].env.map((e: any) => [e.name, e.value]))
    expect(env.MIROIR_TEST_URL).toBe("http://search-miroir.search.svc:7700/peers")
    expect(env.MIROIR_TEST_REPLICAS).toBe("3")
    expect(pod.spec.automountServiceAccountToken).toBe(false)
    expect(pod.spec.containers[0].image).toBe(release(objects).container.image)
  })

  it("passes once the answering pod lists every replica, fresh and listed in DNS", async () => {
    const url = await serve([peers(2), peers(3, { stale: true }), peers(3)])
    const { code, output } = await runCheck(url, 30)
    expect(code, output).toBe(0)
    expect(output).toContain("ok: 3 peers, digest abc")
  }, 60_000)

  it("fails after its timeout, saying why, when the pod never sees every replica", async () => {
    const url = await serve([peers(2)])
    const { code, output } = await runCheck(url, 1)
    expect(code).toBe(1)
    expect(output).toContain("2 peers, expected 3")
  }, 60_000)

  it("fails, saying so, when the pod is not listed in DNS", async () => {
    const url = await serve([peers(3, { selfInDns: false })])
    const { code, output } = await runCheck(url, 1)
    expect(code).toBe(1)
    expect(output).toContain("the pod is not listed in DNS")
  }, 60_000)
})

describe("NetworkPolicy", () => {
  const policyOf = async (set: ReadonlyArray<string>) => {
    const objects = await render("search", "search", { set: ["networkPolicy.enabled=true", ...set] })
    return { policy: objects.find((o) => o.kind === "NetworkPolicy")!, objects }
  }

  it("lets only the release's pods and its test pod call the HTTP API by default; /metrics from anywhere", async () => {
    const { policy, objects } = await policyOf([])
    const { pod } = await testPod()
    const podLabels = release(objects).deployment.spec.template.metadata.labels
    const http = policy.spec.ingress.find((rule: any) => rule.ports.some((p: any) => p.port === 7700))
    expect(http.from.some((peer: any) => selects(peer.podSelector?.matchLabels, podLabels))).toBe(true)
    expect(http.from.some((peer: any) => selects(peer.podSelector?.matchLabels, pod.metadata.labels))).toBe(true)
    expect(http.from).toHaveLength(2)
    const metrics = policy.spec.ingress.find((rule: any) => rule.ports.some((p: any) => p.port === 9090))
    expect(metrics.from).toBeUndefined()
  })

  it("opens egress to the OTLP endpoint's port when one is set (the scheme's default port when it names none)", async () => {
    const ports = async (endpoint: string) =>
      (await policyOf([`otlp.endpoint=${endpoint}`])).policy.spec.egress.flatMap((rule: any) => rule.ports ?? []).map((
        p: any
      ) => p.port)
    expect(await ports("http://otel-collector.observability:4318")).toContain(4318)
    expect(await ports("https://otlp.example.com")).toContain(443)
    expect(await ports("http://[fd00::5]:4319/")).toContain(4319)
    expect(
      (await policyOf([])).policy.spec.egress.flatMap((rule: any) => rule.ports ?? []).map((p: any) => p.port).sort()
    ).toEqual([53, 53, 7700])
  })
})
