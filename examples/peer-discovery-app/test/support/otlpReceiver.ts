/**
 * A loopback OTLP/HTTP receiver for the tests: keeps the JSON bodies POSTed to `/v1/metrics`, answers
 * 200 with an empty export response, and closes with the test's scope.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

/** A running receiver. */
export interface OtlpReceiver {
  /** Its metrics endpoint, `http://127.0.0.1:<port>/v1/metrics`. */
  readonly url: string
  /** The data points received so far for the metric `name`, in arrival order. */
  readonly dataPoints: (name: string) => ReadonlyArray<NumberDataPoint>
}

/** An OTLP number data point as OTLP/JSON writes it: 64-bit integers as strings. */
export interface NumberDataPoint {
  readonly asDouble?: number
  readonly asInt?: string | number
  readonly attributes?: ReadonlyArray<unknown>
}

interface ExportMetricsRequest {
  readonly resourceMetrics?: ReadonlyArray<{
    readonly scopeMetrics?: ReadonlyArray<{
      readonly metrics?: ReadonlyArray<{
        readonly name: string
        readonly gauge?: { readonly dataPoints: ReadonlyArray<NumberDataPoint> }
        readonly sum?: { readonly dataPoints: ReadonlyArray<NumberDataPoint> }
      }>
    }>
  }>
}

/** Starts a receiver on 127.0.0.1 at a free port. */
export const otlpReceiver: Effect.Effect<OtlpReceiver, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ receiver: OtlpReceiver; close: () => Promise<void> }>((resolve) => {
      const bodies: Array<ExportMetricsRequest> = []
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          if (request.method === "POST" && request.url === "/v1/metrics") {
            bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportMetricsRequest)
            response.writeHead(200, { "content-type": "application/json" }).end("{}")
          } else {
            response.writeHead(404).end()
          }
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resolve({
          receiver: {
            url: `http://127.0.0.1:${port}/v1/metrics`,
            dataPoints: (name) =>
              bodies.flatMap((body) =>
                (body.resourceMetrics ?? []).flatMap((resource) =>
                  (resource.scopeMetrics ?? []).flatMap((scope) =>
                    (scope.metrics ?? []).filter((metric) => metric.name === name).flatMap((metric) =>
                      metric.gauge?.dataPoints ?? metric.sum?.dataPoints ?? []
                    )
                  )
                )
              )
          },
          close: () =>
            new Promise<void>((done) => {
              server.closeAllConnections()
              server.close(() => done())
            })
        })
      })
    })
  ),
  ({ close }) => Effect.promise(close)
).pipe(Effect.map(({ receiver }) => receiver))

/** A data point's value as a number. */
export const valueOf = (point: NumberDataPoint): number => Number(point.asDouble ?? point.asInt)
