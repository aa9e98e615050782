/**
 * The pod API's errors, made by one factory: each encodes to ErrorBody's JSON (no `_tag`), decodes back
 * into its own class, and builds its own answer with its status and the headers its fields say.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { HttpServerRespondable } from "effect/http"
import { BadRequest, Busy, ErrorBody, MethodNotAllowed, NotFound } from "../src/PodError.js"

describe("PodError", () => {
  it("encodes to ErrorBody's JSON and decodes back into its own class", () => {
    const busy = new Busy({ error: "busy: retry after 1 s", retryAfterSeconds: 1 })
    expect(JSON.parse(busy.json)).toEqual({ error: "busy: retry after 1 s", retryAfterSeconds: 1 })
    expect(Schema.decodeUnknownSync(ErrorBody, { onExcessProperty: "error" })(JSON.parse(busy.json))).toBeDefined()
    const decoded = Schema.decodeUnknownSync(Busy)(JSON.parse(busy.json))
    expect(decoded).toBeInstanceOf(Busy)
    expect(decoded._tag).toBe("Busy")
    expect(decoded.message).toBe("busy: retry after 1 s")
    // A class's schema accepts only its own instances.
    expect(() => Schema.encodeUnknownSync(NotFound)(busy)).toThrow()
  })

  it.effect("builds its own answer: status, JSON body, and the headers its fields say", () =>
    Effect.gen(function*() {
      const busy = yield* HttpServerRespondable.toResponse(new Busy({ error: "busy", retryAfterSeconds: 2 }))
      expect(busy.status).toBe(503)
      expect(busy.headers["retry-after"]).toBe("2")
      expect(busy.headers["content-type"] ?? (busy.body as { contentType?: string }).contentType).toContain(
        "application/json"
      )
      const notAllowed = new MethodNotAllowed({ error: "method PUT not allowed on /peers", allowed: ["GET"] })
      expect(notAllowed.response.status).toBe(405)
      expect(notAllowed.response.headers["allow"]).toBe("GET")
      const bad = new BadRequest({ error: "shards must be …", parameter: "shards", value: null })
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.json)).toEqual({ error: "shards must be …", parameter: "shards", value: null })
    }))
})
