/**
 * An OTLP/HTTP receiver for tests: an HTTP server on loopback that keeps every request and decodes
 * it with the official OTLP definitions, as compiled by protobufjs into @opentelemetry/otlp-transformer
 * (0.216, the last release that ships both the metrics and the trace definitions).
 */
import { createRequire } from "node:module"
import { createServer, type Server } from "node:http"
import { freePort } from "@miroir/process-kit/freePort"

interface MessageType {
  decode(bytes: Uint8Array): object
  fromObject(json: object): object
  toObject(message: object, options: object): any
}

const otlp = (createRequire(import.meta.url)("@opentelemetry/otlp-transformer/build/src/generated/root.js") as any)
  .opentelemetry.proto.collector as {
    metrics: { v1: { ExportMetricsServiceRequest: MessageType } }
    trace: { v1: { ExportTraceServiceRequest: MessageType } }
  }

/** One request as received. */
export interface Received {
  readonly path: string
  readonly contentType: string
  readonly body: Buffer
}

/**
 * Decodes an export request by its content type: protobuf with `decode`, OTLP/JSON with `fromObject`
 * (which checks the fields against the same definitions). Returns plain objects with numbers for
 * 64-bit integers and attribute values flattened.
 */
export const decode = (request: Received): any => {
  const type = request.path.endsWith("/v1/traces")
    ? otlp.trace.v1.ExportTraceServiceRequest
    : otlp.metrics.v1.ExportMetricsServiceRequest
  const message = request.contentType.startsWith("application/x-protobuf")
    ? type.decode(request.body)
    : type.fromObject(JSON.parse(request.body.toString("utf8")))
  return type.toObject(message, { longs: Number, defaults: false, arrays: true })
}

/** `key → value` of OTLP attributes (`[{ key, value: { stringValue | intValue | … } }]`). */
export const attributesOf = (attributes: ReadonlyArray<{ key: string; value: Record<string, unknown> }> = []) =>
  Object.fromEntries(attributes.map(({ key, value }) => [key, Object.values(value)[0]]))

/** A running receiver. */
export interface Receiver {
  /** `http://127.0.0.1:<port>`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string
  readonly requests: Array<Received>
  readonly stop: () => Promise<void>
}

/** Starts a receiver that answers 200 to every request (or never answers, when `silent`). */
export const startReceiver = async (options: { readonly silent?: boolean } = {}): Promise<Receiver> => {
  const port = await freePort()
  const requests: Array<Received> = []
  const server: Server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      requests.push({
        path: request.url ?? "",
        contentType: String(request.headers["content-type"] ?? ""),
        body: Buffer.concat(chunks)
      })
      if (options.silent) return
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
