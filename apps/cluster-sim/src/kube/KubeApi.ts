/**
 * A small client of the Kubernetes API for the cluster harness: JSON
 * requests over HTTPS with the admin client certificate, and list-then-watch of a collection kept in
 * a `SubscriptionRef` (an informer), so that waiters subscribe to changes instead of polling.
 * Only what the harness uses; the API server is the real kube-apiserver on loopback.
 */
import { request as httpsRequest } from "node:https"
import {
  Cause,
  Context,
  Data,
  Duration,
  Effect,
  Layer,
  Queue,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"

/** How to reach the API server. */
export interface Connection {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string
  /** PEM of the cluster CA, of the client certificate and of its key. */
  readonly ca: string
  readonly cert: string
  readonly key: string
}

/** An API request that failed: transport, or an HTTP status with the API's `Status` message. */
export class KubeApiError extends Data.TaggedError("KubeApiError")<{
  readonly method: string
  readonly path: string
  /** The HTTP status; 0 when no answer came. */
  readonly status: number
  /** The API's reason (`NotFound`, `AlreadyExists`, `Conflict`, `TooManyRequests`…) or the transport error. */
  readonly reason: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.method} ${this.path}: ${this.status === 0 ? "" : `${this.status} `}${this.reason}: ${this.detail}`
  }
}

/** A watch event of the API. */
export interface WatchEvent<A> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  readonly object: A
}

/** Objects with the metadata the informer keys by. */
export interface Keyed {
  readonly metadata?: {
    readonly namespace?: string | undefined
    readonly name?: string | undefined
    readonly resourceVersion?: string | undefined
  } | undefined
}

/** The client. */
export interface Service {
  readonly connection: Connection
  /** Sends `method` to `path` with an optional JSON body and returns the decoded answer. */
  readonly request: <A = unknown>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    contentType?: string
  ) => Effect.Effect<A, KubeApiError>
  /**
   * Keeps the objects of the collection at `path` (e.g. `/api/v1/namespaces/default/pods`, with an
   * optional `?labelSelector=`) in a `SubscriptionRef` keyed `namespace/name`: a list, then a watch from
   * its resourceVersion, listed again whenever the watch ends or fails. Runs in the scope.
   */
  readonly informer: <A extends Keyed>(
    path: string
  ) => Effect.Effect<SubscriptionRef.SubscriptionRef<ReadonlyMap<string, A>>, never, Scope.Scope>
}

/** The client as a service. */
export class KubeApi extends Context.Service<KubeApi, Service>()("@miroir/cluster-sim/KubeApi") {}

const keyOf = (object: Keyed) => `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`

/** Builds the client over `connection`. */
export const make = (connection: Connection): Service => {
  const url = new URL(connection.server)
  const send = (
    method: string,
    path: string,
    body: string | undefined,
    contentType: string,
    onResponse: (status: number, stream: NodeJS.ReadableStream) => void,
    onError: (error: Error) => void
  ) => {
    const req = httpsRequest({
      host: url.hostname,
      port: url.port,
      method,
      path,
      ca: connection.ca,
      cert: connection.cert,
      key: connection.key,
      // An explicit length: without it Node sends bodiless DELETEs chunked, which left the kept-alive
      // connection unusable for the next request (the API server answered it 400).
      headers: {
        accept: "application/json",
        "content-length": String(body === undefined ? 0 : Buffer.byteLength(body)),
        ...(body === undefined ? {} : { "content-type": contentType })
      }
    }, (response) => onResponse(response.statusCode ?? 0, response))
    req.on("error", onError)
    req.end(body)
    return req
  }

  const request = <A>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    contentType = "application/json"
  ) =>
    Effect.callback<A, KubeApiError>((resume) => {
      const req = send(
        method,
        path,
        body === undefined ? undefined : JSON.stringify(body),
        contentType,
        (status, stream) => {
          let text = ""
          stream.on("data", (chunk) => (text += String(chunk)))
          stream.on("end", () => {
            let decoded: any
            try {
              decoded = text.length === 0 ? {} : JSON.parse(text)
            } catch {
              decoded = { message: text.slice(0, 200) }
            }
            if (status >= 200 && status < 300) resume(Effect.succeed(decoded as A))
            else {
              resume(
                Effect.fail(
                  new KubeApiError({
                    method,
                    path,
                    status,
                    reason: decoded?.reason ?? "Error",
                    detail: decoded?.message ?? text.slice(0, 200)
                  })
                )
              )
            }
          })
        },
        (error) =>
          resume(Effect.fail(new KubeApiError({ method, path, status: 0, reason: "Transport", detail: error.message })))
      )
      return Effect.sync(() => req.destroy())
    })

  /** The events of one watch from `resourceVersion`, until the server ends it. */
  const watchEvents = <A>(path: string, resourceVersion: string) =>
    Stream.callback<WatchEvent<A>, KubeApiError>((queue) => {
      const separator = path.includes("?") ? "&" : "?"
      const watchPath = `${path}${separator}watch=1&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`
      const fail = (error: KubeApiError) => void Queue.failCauseUnsafe(queue, Cause.fail(error))
      const req = send(
        "GET",
        watchPath,
        undefined,
        "",
        (status, stream) => {
          if (status !== 200) {
            fail(
              new KubeApiError({
                method: "GET",
                path: watchPath,
                status,
                reason: "WatchFailed",
                detail: `HTTP ${status}`
              })
            )
            return
          }
          let pending = ""
          stream.on("data", (chunk) => {
            pending += String(chunk)
            let newline: number
            while ((newline = pending.indexOf("\n")) >= 0) {
              const line = pending.slice(0, newline)
              pending = pending.slice(newline + 1)
              if (line.trim().length > 0) Queue.offerUnsafe(queue, JSON.parse(line) as WatchEvent<A>)
            }
          })
          stream.on("end", () => void Queue.endUnsafe(queue))
        },
        (error) =>
          fail(
            new KubeApiError({ method: "GET", path: watchPath, status: 0, reason: "Transport", detail: error.message })
          )
      )
      return Effect.addFinalizer(() => Effect.sync(() => req.destroy()))
    })

  const informer = <A extends Keyed>(path: string) =>
    Effect.gen(function*() {
      const ref = yield* SubscriptionRef.make<ReadonlyMap<string, A>>(new Map())
      const listAndWatch = Effect.gen(function*() {
        const list = yield* request<{ metadata: { resourceVersion: string }; items: Array<A> }>("GET", path)
        yield* SubscriptionRef.set(ref, new Map(list.items.map((item) => [keyOf(item), item])))
        let resourceVersion = list.metadata.resourceVersion
        yield* watchEvents<A>(path, resourceVersion).pipe(
          Stream.runForEach((event) => {
            if (event.type === "ERROR") {
              return Effect.fail(
                new KubeApiError({
                  method: "GET",
                  path,
                  status: 410,
                  reason: "WatchError",
                  detail: JSON.stringify(event.object).slice(0, 200)
                })
              )
            }
            resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion
            if (event.type === "BOOKMARK") return Effect.void
            return SubscriptionRef.update(ref, (current) => {
              const next = new Map(current)
              if (event.type === "DELETED") next.delete(keyOf(event.object))
              else next.set(keyOf(event.object), event.object)
              return next
            })
          })
        )
      })
      // A watch ends (the server's timeout) or fails (an expired resourceVersion): list again.
      yield* listAndWatch.pipe(
        Effect.catch((error) => Effect.logDebug(`informer ${path}: ${error.message}; listing again`)),
        Effect.repeat(Schedule.spaced(Duration.millis(100))),
        Effect.forkScoped
      )
      return ref
    })

  return { connection, request, informer }
}

/** The client as a layer. */
export const layer = (connection: Connection): Layer.Layer<KubeApi> => Layer.succeed(KubeApi, make(connection))
