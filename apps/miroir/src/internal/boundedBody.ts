/**
 * Reading a request body no larger than a limit, and refusing a larger one without reading it whole and
 * without resetting the connection. Not API: HttpApi/Server.ts reads the `POST /hints` body with it.
 *
 * Why not the platform's body reading (`withMaxBodySize`): past the limit it destroys the request
 * stream, and Node destroys the socket with an incomplete request. The kernel then resets the
 * connection on the bytes still arriving, and a client still sending its body (fetch with a stream,
 * Node's http.request) gets `EPIPE` or `ECONNRESET` instead of the answer: the 128–512 KB resets of
 * issue 18. Here the rest of the body is left to Node, which reads and discards it after the answer
 * (`IncomingMessage#_dump`, at a constant memory cost) and keeps the connection: the client reads the 413
 * it was sent (undici, fetch's engine, then closes the connection itself, its answer complete before its
 * body; a client that keeps sending is cut off by the server's request timeout). {@link readRequest} takes
 * the platform's request, from a socket or not.
 */
import { IncomingMessage } from "node:http"
import { Data, Effect, Option, Stream } from "effect"
import type { HttpServerRequest } from "effect/http"

/** The body is larger than the limit: `declared` when its `Content-Length` said so before any byte was read. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{
  readonly maxBytes: number
  readonly declared: Option.Option<number>
}> {}

/** The body did not arrive whole: the client went away, or the stream failed. */
export class BodyNotReceived extends Data.TaggedError("BodyNotReceived")<{ readonly cause: unknown }> {}

/**
 * The body of `source`, at most `maxBytes`. A `Content-Length` above the limit fails at once, nothing
 * read; a body without one (chunked) is read until it passes the limit, then fails, the bytes read so
 * far dropped and the rest left for Node to discard. Interrupted, it stops listening.
 */
export const read = (
  source: IncomingMessage,
  maxBytes: number
): Effect.Effect<Uint8Array, BodyTooLarge | BodyNotReceived> => {
  const header = source.headers["content-length"]
  const declared = header === undefined ? undefined : Number(header)
  if (declared !== undefined && declared > maxBytes) {
    return Effect.fail(new BodyTooLarge({ maxBytes, declared: Option.some(declared) }))
  }
  if (source.readableEnded) {
    return Effect.fail(new BodyNotReceived({ cause: new Error("the body was read already") }))
  }
  return Effect.callback<Uint8Array, BodyTooLarge | BodyNotReceived>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onError)
      source.off("close", onClose)
    }
    function onData(chunk: Buffer) {
      size += chunk.byteLength
      if (size <= maxBytes) {
        chunks.push(chunk)
        return
      }
      stop()
      chunks.length = 0
      // Flowing with no listener: Node reads the rest and drops it as it comes.
      source.resume()
      resume(Effect.fail(new BodyTooLarge({ maxBytes, declared: Option.none() })))
    }
    function onEnd() {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, size)))
    }
    function onError(cause: unknown) {
      stop()
      resume(Effect.fail(new BodyNotReceived({ cause })))
    }
    // `close` before `end`: the connection went away mid-body.
    function onClose() {
      stop()
      resume(Effect.fail(new BodyNotReceived({ cause: new Error("the connection closed before the body ended") })))
    }
    source.on("data", onData)
    source.on("end", onEnd)
    source.on("error", onError)
    source.on("close", onClose)
    return Effect.sync(() => {
      stop()
      source.resume()
    })
  })
}

/**
 * The body of `request`, at most `maxBytes`, as {@link read} reads it: a request from a Node socket through
 * {@link read} (the only way it can arrive in a pod); any other through its own stream with the same limit,
 * checked the same way. A request from no socket (the API served in memory, as the tests call it without a
 * listener) has no connection to reset, and no rest to leave to Node.
 */
export const readRequest = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<Uint8Array, BodyTooLarge | BodyNotReceived> => {
  if (request.source instanceof IncomingMessage) return read(request.source, maxBytes)
  const header = request.headers["content-length"]
  const declared = header === undefined ? undefined : Number(header)
  if (declared !== undefined && declared > maxBytes) {
    return Effect.fail(new BodyTooLarge({ maxBytes, declared: Option.some(declared) }))
  }
  return request.stream.pipe(
    Stream.mapError((cause) => new BodyNotReceived({ cause })),
    Stream.runFoldEffect(() => new Uint8Array(0), (body: Uint8Array, chunk: Uint8Array) => {
      if (body.byteLength + chunk.byteLength > maxBytes) {
        return Effect.fail(new BodyTooLarge({ maxBytes, declared: Option.none() }))
      }
      const joined = new Uint8Array(body.byteLength + chunk.byteLength)
      joined.set(body)
      joined.set(chunk, body.byteLength)
      return Effect.succeed(joined)
    })
  )
}
