/**
 * `node miroir.mjs leave` (the chart's preStop exec) as a process, against admin listeners that fail:
 * bad arguments end it at once with an error naming them; a bad MIROIR_ADMIN_HOST, a pod it cannot reach,
 * one that answers an error and one that never answers all end it with exit code 1 and one line on
 * stderr saying why, but never before the delay is over (counted from its start), so that the kubelet's
 * SIGTERM still comes after the delay, as with a preStop sleep. Without arguments the program serves.
 * Listeners here are in-process servers on 127.0.0.178, closed by the test.
 */
import { createServer, type Server } from "node:http"
import { freePort } from "@miroir/process-kit/freePort"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { podBundle, runLeave, runProgram } from "./support/podUnderTest.js"

const HOST = "127.0.0.178"

/** The environment of an exec in a pod whose admin listener is at HOST:`port`. */
const podEnv = (port: number, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  MIROIR_ADMIN_HOST: HOST,
  MIROIR_ADMIN_PORT: String(port),
  ...extra
})

describe("miroir leave, when the leave cannot be asked for", () => {
  let bundle = ""
  let server: Server | undefined
  beforeAll(async () => {
    bundle = await podBundle()
  }, 120_000)
  afterEach(() =>
    new Promise<void>((resolve) => {
      if (server === undefined) return resolve()
      server.closeAllConnections()
      server.close(() => resolve())
      server = undefined
    })
  )

  /** A listener at HOST that handles every request with `handle`; its port. */
  const listen = async (handle: Parameters<typeof createServer>[1]) => {
    const port = await freePort(HOST)
    server = createServer(handle!)
    await new Promise<void>((resolve) => server!.listen(port, HOST, resolve))
    return port
  }

  it.each([
    [["--delay", "soon"], /--delay must be a duration such as 5s or 500ms, from 0s to 3600s, got "soon"/],
    [["--delay", "3601s"], /--delay must be a duration .* got "3601s"/],
    [["--dealy", "5s"], /--dealy/],
    [["now"], /now/]
  ])("refuses the arguments %j at once, with an error naming them", async (args, pattern) => {
    const ran = await runLeave(podEnv(await freePort(HOST)), bundle, args)
    expect(ran.code).toBe(1)
    expect(ran.stderr).toMatch(pattern)
    expect(ran.stdout).toBe("")
  }, 60_000)

  it("with arguments but no command, refuses them rather than serve with them ignored", async () => {
    const ran = await runProgram(podEnv(await freePort(HOST)), bundle, ["--log-level", "debug"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toBe("miroir: expected a command (leave); run without arguments to serve, or with --help\n")
  }, 60_000)

  it("a MIROIR_ADMIN_HOST that is not loopback: one line naming it, after the delay", async () => {
    const ran = await runLeave(podEnv(7701, { MIROIR_ADMIN_HOST: "0.0.0.0" }), bundle, ["--delay", "1s"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toMatch(
      /^miroir leave: invalid configuration: MIROIR_ADMIN_HOST="0\.0\.0\.0": expected a loopback address.*\n$/
    )
    expect(ran.ms).toBeGreaterThanOrEqual(1_000)
  }, 60_000)

  it("a pod it cannot reach: one line saying so, after the rest of the delay", async () => {
    const port = await freePort(HOST)
    const ran = await runLeave(podEnv(port), bundle, ["--delay", "2s"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toBe(
      `miroir leave: cannot reach the pod's admin listener at http://${HOST}:${port}: connect ECONNREFUSED ${HOST}:${port}\n`
    )
    expect(ran.stdout).toBe("")
    expect(ran.ms).toBeGreaterThanOrEqual(2_000)
  }, 60_000)

  it("a pod that answers an error: one line with the answer, after the rest of the delay", async () => {
    const seen: Array<string> = []
    const port = await listen((request, response) => {
      seen.push(`${request.method} ${request.url}`)
      response.writeHead(500, { "content-type": "text/plain" }).end("broken")
    })
    const ran = await runLeave(podEnv(port), bundle, ["--delay", "2s"])
    expect(seen).toEqual(["POST /leave?delay=2s"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toMatch(
      new RegExp(`^miroir leave: the pod's admin listener at http://${HOST}:${port} answered HTTP 500, not a leave\\n$`)
    )
    expect(ran.ms).toBeGreaterThanOrEqual(2_000)
  }, 60_000)

  it("a pod that never answers: gives up past the leave's bound and a margin, with one line", async () => {
    const port = await listen(() => {})
    const ran = await runLeave(podEnv(port), bundle, ["--delay", "0s"])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toBe(
      `miroir leave: the pod's admin listener at http://${HOST}:${port} did not answer within 7s\n`
    )
    // The leave's own bound (3 s) plus the margin (4 s): the chart's grace period leaves SIGTERM time after it.
    expect(ran.ms).toBeGreaterThanOrEqual(7_000)
  }, 60_000)
})
