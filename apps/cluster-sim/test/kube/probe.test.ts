/**
 * The process kubelet's httpGet handler, as it runs an httpGet preStop hook (the chart's was
 * `GET /leave?delay=1s` on the named port `http` before it became an exec): the query string reaches the
 * pod as written, and the attempt waits for the answer as long as its `timeoutSeconds` (the kubelet
 * passes what is left of the grace period), not the probes' default second.
 */
import { createServer, type Server } from "node:http"
import { Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Probe from "../../src/kube/internal/probe.js"

describe("the process kubelet's httpGet handler", () => {
  let server: Server | undefined
  afterEach(() => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))))

  it("sends the path with its query to the named port, and waits up to timeoutSeconds for the answer", async () => {
    const seen: Array<string> = []
    server = createServer((request, response) => {
      seen.push(request.url ?? "")
      // Answers after 1.5 s, as a hook that waits a delay does: longer than a probe's default timeout.
      setTimeout(() => response.end("{}"), 1_500)
    })
    const port = await new Promise<number>((resolve) =>
      server!.listen(0, "127.0.0.1", () => {
        const address = server!.address()
        resolve(typeof address === "object" && address !== null ? address.port : 0)
      })
    )
    const container = { name: "miroir", ports: [{ name: "http", containerPort: port }] }
    const hook = { httpGet: { path: "/leave?delay=1s", port: "http" } }
    const started = Date.now()
    expect(await Effect.runPromise(Probe.attempt({ ...hook, timeoutSeconds: 10 }, container, "127.0.0.1"))).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400)
    expect(seen).toEqual(["/leave?delay=1s"])
    // With a probe's default second, the same answer comes too late: a failure.
    expect(await Effect.runPromise(Probe.attempt(hook, container, "127.0.0.1"))).toBe(false)
  })
})
