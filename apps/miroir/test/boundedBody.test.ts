/**
 * Reading a body within a limit, on a real Node server in this process: a small body whole, a declared
 * Content-Length over the limit refused before a byte is read, a streamed body refused once past it, and
 * the client's answer never a reset.
 */
import { afterEach, describe, expect, it } from "vitest"
import { createServer, type Server } from "node:http"
import { chunks, exchange } from "@miroir/test-support/floods"
import { Cause, Effect, Exit, Option } from "effect"
import * as BoundedBody from "../src/internal/boundedBody.js"

const HOST = "127.18.1.1"

/** A server that reads each body within `max` and answers what became of it. */
const serve = (max: number) =>
  new Promise<{ server: Server; url: string }>((resolve) => {
    const server = createServer((request, response) => {
      void Effect.runPromiseExit(BoundedBody.read(request, max)).then((exit) => {
        const answer = Exit.match(exit, {
          onSuccess: (body) => ({ status: 200, text: `read ${body.byteLength}` }),
          onFailure: (cause) => {
            const error = Option.getOrUndefined(Cause.findErrorOption(cause))
            return error?._tag === "BodyTooLarge"
              ? { status: 413, text: `too large${Option.isSome(error.declared) ? ` (${error.declared.value})` : ""}` }
              : { status: 400, text: "not received" }
          }
        })
        response.writeHead(answer.status, { "content-length": Buffer.byteLength(answer.text) })
        response.end(answer.text)
      })
    })
    server.listen(0, HOST, () => {
      const address = server.address()
      resolve({ server, url: `http://${HOST}:${typeof address === "object" && address !== null ? address.port : 0}` })
    })
  })

describe("BoundedBody.read", () => {
  let server: Server | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined))
  })

  it("reads a body within the limit whole, the limit included", async () => {
    const started = await serve(1024)
    server = started.server
    for (const size of [0, 60, 1024]) {
      const answer = await exchange(`${started.url}/`, { method: "POST", body: new Uint8Array(size) })
      expect(`${answer.status} ${answer.body}`).toBe(`200 read ${size}`)
    }
    // Streamed (chunked) within the limit too.
    const streamed = await exchange(`${started.url}/`, { method: "POST", body: chunks(4, 256) })
    expect(`${streamed.status} ${streamed.body}`).toBe("200 read 1024")
  })

  it("refuses a Content-Length over the limit at once, and a streamed body once past it: answers, no reset", async () => {
    const started = await serve(1024)
    server = started.server
    const declared = await exchange(`${started.url}/`, { method: "POST", body: new Uint8Array(1025) })
    expect(`${declared.status} ${declared.body}`).toBe("413 too large (1025)")
    // 100 MB streamed by a client that keeps writing after the answer (Node's, with its own connection).
    const streamed = await exchange(`${started.url}/`, { method: "POST", body: chunks(1600) })
    expect(`${streamed.status} ${streamed.body}`).toBe("413 too large")
    // And by fetch (undici), which stops sending once it has its answer.
    const fetched = await fetch(`${started.url}/`, {
      method: "POST",
      body: ReadableStream.from(chunks(1600)),
      duplex: "half"
    } as RequestInit)
    expect(`${fetched.status} ${await fetched.text()}`).toBe("413 too large")
  })
})
