/**
 * The guarded server, in this process: probes answered without the application, other requests in order
 * and paced, requests held at once bounded, connections bounded in all and per source address (clients
 * bound to loopback addresses of their own, 127.18.1.x), slow clients cut off, every refusal reported.
 */
import { afterEach, describe, expect, it } from "vitest"
import { get as httpGet, type IncomingMessage, type ServerResponse } from "node:http"
import { connect, type Socket } from "node:net"
import { Busy } from "@miroir/pod-api"
import type { HttpRefusal } from "../src/AppMetrics.js"
import { GuardedServer, type Options } from "../src/internal/guardedServer.js"

const HOST = "127.18.1.1"
const source = (n: number) => `127.18.1.${10 + n}`

const refusals: Array<HttpRefusal> = []

const options: Options = {
  constant: { "/healthz": "{\"status\":\"ok\"}" },
  perTurn: 2,
  maxPipelined: 4,
  maxHeld: 3,
  connections: { total: 1000, perSource: 1000, reserve: 0, lightSource: 0 },
  timeouts: { headers: 60_000, request: 60_000, keepAlive: 5_000, checkingInterval: 30_000, idle: 60_000 },
  busy: new Busy({ error: "busy", retryAfterSeconds: 1 }),
  onRefused: (reason) => void refusals.push(reason)
}

const listen = (server: GuardedServer) =>
  new Promise<{ url: string; port: number }>((resolve) =>
    server.listen(0, HOST, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({ url: `http://${HOST}:${port}`, port })
    })
  )

/** A raw connection from `localAddress`, resolved once connected; `closed` resolves when it closes. */
const open = (port: number, localAddress: string) =>
  new Promise<{ socket: Socket; closed: Promise<string> }>((resolve, reject) => {
    const socket = connect({ host: HOST, port, localAddress })
    let received = ""
    socket.on("data", (data) => (received += String(data)))
    const closed = new Promise<string>((done) => socket.on("close", () => done(received)))
    socket.on("error", () => undefined)
    socket.once("connect", () => resolve({ socket, closed }))
    socket.once("error", reject)
  })

/** Whether `socket` is closed by the server within `ms`. */
const closedWithin = (closed: Promise<unknown>, ms: number) =>
  Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))])

const until = async (what: string, check: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("GuardedServer", () => {
  let server: GuardedServer | undefined
  const sockets: Array<Socket> = []
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
    refusals.length = 0
  })

  it("answers a constant path itself, and hands every other request to the application, in order", async () => {
    server = new GuardedServer(options)
    const seen: Array<string> = []
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      seen.push(request.url!)
      response.end("app")
    })
    const { url } = await listen(server)
    expect(await (await fetch(`${url}/healthz`)).text()).toBe("{\"status\":\"ok\"}")
    // Another method on a constant path is the application's (it answers 405).
    expect(await (await fetch(`${url}/healthz`, { method: "POST" })).text()).toBe("app")
    const answers = await Promise.all(["/a", "/b"].map(async (path) => (await fetch(`${url}${path}`)).text()))
    expect(answers).toEqual(["app", "app"])
    expect(seen.slice(0, 1)).toEqual(["/healthz"])
    expect([...seen.slice(1)].sort()).toEqual(["/a", "/b"])
    expect(server.heldRequests).toBe(0)
  })

  it("reads a constant path's body anew at each request, and tells who asked, without the application", async () => {
    let body = Buffer.from("{\"status\":\"ok\",\"down\":[]}")
    const told: Array<readonly [string, string]> = []
    server = new GuardedServer({
      ...options,
      constant: { ...options.constant, "/ping": () => body },
      onConstant: (path, from) => void told.push([path, from])
    })
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => response.end("app"))
    const { port } = await listen(server)
    /** `GET path` from `localAddress`, with Node's client (fetch cannot pick its source address). */
    const get = (path: string, localAddress: string) =>
      new Promise<string>((resolve, reject) => {
        const request = httpGet({ host: HOST, port, path, localAddress, agent: false }, (response) => {
          let text = ""
          response.on("data", (chunk) => (text += String(chunk)))
          response.on("end", () => resolve(text))
        })
        request.on("error", reject)
      })
    expect(await get("/ping", source(1))).toBe("{\"status\":\"ok\",\"down\":[]}")
    body = Buffer.from("{\"status\":\"ok\",\"down\":[\"10-0-0-2\"]}")
    expect(await get("/ping", source(2))).toBe("{\"status\":\"ok\",\"down\":[\"10-0-0-2\"]}")
    // The other constants stay what they were.
    expect(await get("/healthz", source(1))).toBe("{\"status\":\"ok\"}")
    expect(told).toEqual([["/ping", source(1)], ["/ping", source(2)], ["/healthz", source(1)]])
    expect(server.heldRequests).toBe(0)
  })

  it("answers probes while the application holds every request it may", async () => {
    server = new GuardedServer({ ...options, maxHeld: 100 })
    const held: Array<ServerResponse> = []
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => void held.push(response))
    const { url } = await listen(server)
    const waiting = Array.from({ length: 10 }, () => fetch(`${url}/slow`).catch(() => undefined))
    await until("10 requests held", () => server!.heldRequests === 10)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    for (const response of held) response.end()
    await Promise.all(waiting)
    await until("none held", () => server!.heldRequests === 0)
  })

  it("refuses with 503, Retry-After and the busy body once maxHeld requests are held, and counts it", async () => {
    // A server that hands nothing on (perTurn 0): the requests wait, held, and the next one is refused.
    server = new GuardedServer({ ...options, perTurn: 0 })
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => response.end("app"))
    const { url } = await listen(server)
    const stuck = Array.from({ length: 3 }, () => fetch(`${url}/wait`).catch(() => undefined))
    await until("3 requests held", () => server!.heldRequests === 3)
    const refused = await fetch(`${url}/one-too-many`)
    expect(refused.status).toBe(503)
    expect(refused.headers.get("retry-after")).toBe("1")
    expect(await refused.text()).toBe("{\"error\":\"busy\",\"retryAfterSeconds\":1}")
    // The probes are not held requests: they still answer.
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect(refusals).toEqual(["requests_held"])
    // Held until the connection closes: then they count no more.
    server.closeAllConnections()
    await Promise.all(stuck)
    await until("none held", () => server!.heldRequests === 0)
  })

  it("counts a request held until its answer has been handed to the kernel, a client that never reads included", async () => {
    server = new GuardedServer({ ...options, maxHeld: 100, timeouts: { ...options.timeouts, idle: 500 } })
    // 8 MB: more than the kernel buffers of a connection on loopback take from a client that reads nothing.
    const large = Buffer.alloc(8 * 1024 * 1024, 120)
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => response.end(large))
    const { port } = await listen(server)
    const { socket, closed } = await open(port, source(0))
    sockets.push(socket)
    socket.pause()
    socket.write("GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
    await until("the request held", () => server!.heldRequests === 1)
    // Nothing moves on the connection: the idle timeout closes it, and the request is held no more.
    await until("the connection closed by the server", () => server!.openConnections === 0)
    expect(server.heldRequests).toBe(0)
    expect(refusals).toEqual(["idle_timeout"])
    // The client, reading again, finds it closed (a paused socket sees nothing).
    socket.resume()
    expect(await closedWithin(closed, 5_000)).toBe(true)
  })

  it("takes a request with an Upgrade header as an ordinary request, paced and counted", async () => {
    server = new GuardedServer(options)
    const upgrades: Array<string> = []
    server.on("upgrade", () => upgrades.push("upgrade"))
    server.on("request", (request: IncomingMessage, response: ServerResponse) => response.end(`app ${request.url}`))
    const { port } = await listen(server)
    const { socket, closed } = await open(port, source(0))
    socket.end("GET /peers HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    expect(await closed).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*app \/peers$/)
    expect(upgrades).toEqual([])
  })

  it("closes connections past the per-source limit as they arrive, and past the total but for light sources", async () => {
    server = new GuardedServer({
      ...options,
      connections: { total: 6, perSource: 4, reserve: 2, lightSource: 2 }
    })
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => response.end("app"))
    const { port } = await listen(server)
    const from = async (n: number, count: number) => {
      const opened = await Promise.all(Array.from({ length: count }, () => open(port, source(n))))
      sockets.push(...opened.map((c) => c.socket))
      return opened
    }
    // Source 0: four taken, the fifth closed at once.
    const first = await from(0, 5)
    await until("4 open", () => server!.openConnections === 4)
    const closedAtOnce = await Promise.all(first.map((c) => closedWithin(c.closed, 500)))
    expect(closedAtOnce.filter(Boolean).length).toBe(1)
    const admitted = first.filter((_, i) => !closedAtOnce[i])
    expect(refusals).toEqual(["connections_per_source"])
    // Source 1: two more fill the total (6); a third from it (holding 2: not light) is closed.
    const second = await from(1, 3)
    await until("6 open", () => server!.openConnections === 6)
    expect((await Promise.all(second.map((c) => closedWithin(c.closed, 500)))).filter(Boolean).length).toBe(1)
    expect(refusals).toEqual(["connections_per_source", "connections_total"])
    // Source 2 holds nothing: light, it gets in on the reserve, as a probe from the kubelet would.
    const probe = await open(port, source(2))
    probe.socket.end("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    expect(await probe.closed).toMatch(/^HTTP\/1\.1 200 OK/)
    // Once a connection closes, its source may open one again.
    const openBefore = server.openConnections
    admitted[0]!.socket.destroy()
    await until("one fewer open", () => server!.openConnections <= openBefore - 1)
    const again = await from(0, 1)
    expect(await closedWithin(again[0]!.closed, 500)).toBe(false)
  })

  it("cuts off a client whose headers do not arrive within headersTimeout, with a 408, counted", async () => {
    server = new GuardedServer({
      ...options,
      timeouts: { headers: 300, request: 600, keepAlive: 5_000, checkingInterval: 100, idle: 60_000 }
    })
    server.on("request", (_request: IncomingMessage, response: ServerResponse) => response.end("app"))
    const { port } = await listen(server)
    const { socket, closed } = await open(port, source(0))
    sockets.push(socket)
    socket.write("GET /peers HTTP/1.1\r\nHost: x\r\n")
    expect(await closedWithin(closed, 5_000)).toBe(true)
    expect(await closed).toMatch(/^HTTP\/1\.1 408 /)
    expect(refusals).toEqual(["request_timeout"])
    expect(server.openConnections).toBe(0)
  })

  it("closes a connection that pipelines more requests than it may have under way, counted", async () => {
    server = new GuardedServer({ ...options, maxHeld: 100 })
    const seen: Array<string> = []
    // Held without an answer: each request stays under way.
    server.on("request", (request: IncomingMessage) => void seen.push(request.url!))
    const { port } = await listen(server)
    const { socket, closed } = await open(port, source(0))
    // A thousand requests in one write: Node parses them all from one read.
    socket.write(Array.from({ length: 1000 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join(""))
    expect(await closedWithin(closed, 5_000)).toBe(true)
    expect(refusals).toEqual(["pipelined"])
    await until("none held", () => server!.heldRequests === 0 && server!.openConnections === 0)
    // Four reached the application (two in the first turn, two more in the next), none after the close.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(seen.length).toBeLessThanOrEqual(4)
  })

  it("answers what Node's parser refuses as Node does (400), counted as malformed", async () => {
    server = new GuardedServer(options)
    const { port } = await listen(server)
    const { socket, closed } = await open(port, source(0))
    socket.write("NOT HTTP AT ALL\r\n\r\n")
    expect(await closed).toMatch(/^HTTP\/1\.1 400 /)
    expect(refusals).toEqual(["malformed"])
  })
})
