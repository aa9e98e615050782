/** The paced server: probes answered without the application, other requests in order, a bounded queue. */
import { afterEach, describe, expect, it } from "vitest"
import type { IncomingMessage, ServerResponse } from "node:http"
import { PacedServer } from "../src/internal/pacedServer.js"

const options = {
  constant: { "/healthz": "{\"status\":\"ok\"}" },
  perTurn: 2,
  maxPending: 3,
  busyBody: "{\"error\":\"busy\"}",
  retryAfterSeconds: 1
}

const listen = (server: PacedServer) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(`http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`)
    })
  )

describe("PacedServer", () => {
  let server: PacedServer | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  })

  it("answers a constant path itself, and hands every other request to the application, in order", async () => {
    server = new PacedServer(options)
    const seen: Array<string> = []
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      seen.push(request.url!)
      response.end("app")
    })
    const url = await listen(server)
    expect(await (await fetch(`${url}/healthz`)).text()).toBe("{\"status\":\"ok\"}")
    // Another method on a constant path is the application's (it answers 405).
    expect(await (await fetch(`${url}/healthz`, { method: "POST" })).text()).toBe("app")
    const answers = await Promise.all(["/a", "/b"].map(async (path) => (await fetch(`${url}${path}`)).text()))
    expect(answers).toEqual(["app", "app"])
    expect(seen.slice(0, 1)).toEqual(["/healthz"])
    expect([...seen.slice(1)].sort()).toEqual(["/a", "/b"])
  })

  it("answers probes while the application holds every request it was given", async () => {
    server = new PacedServer({ ...options, maxPending: 100 })
    const held: Array<ServerResponse> = []
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => void held.push(response))
    const url = await listen(server)
    const waiting = Array.from({ length: 10 }, () => fetch(`${url}/slow`).catch(() => undefined))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    for (const response of held) response.end()
    await Promise.all(waiting)
  })

  it("refuses with 503, Retry-After and the busy body once maxPending requests wait", async () => {
    // A server that hands nothing on (perTurn 0): the queue fills, and the next request is refused.
    server = new PacedServer({ ...options, perTurn: 0 })
    const url = await listen(server)
    const stuck = Array.from({ length: 3 }, () => fetch(`${url}/wait`).catch(() => undefined))
    await new Promise((resolve) => setTimeout(resolve, 100))
    const refused = await fetch(`${url}/one-too-many`)
    expect(refused.status).toBe(503)
    expect(refused.headers.get("retry-after")).toBe("1")
    expect(await refused.text()).toBe("{\"error\":\"busy\"}")
    server.closeAllConnections()
    await Promise.all(stuck)
  })
})
