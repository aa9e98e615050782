/**
 * What the pods themselves say: each live pod's `/peers`, `/ownership` and `/metrics`, read over HTTP
 * as an operator would, and the convergence test the scenario measures against.
 */
import { metricValue } from "@miroir/process-kit/metricsText"
import * as Client from "@miroir/pod-api/Client"
import { Array as Arr, Duration, Effect, Option, Ref } from "effect"
import { FetchHttpClient } from "effect/http"
import { type Cluster, type ClusterPod, livePods, publishedLabels } from "./Cluster.js"
import { pollUntil } from "@miroir/process-kit/Poll"

/** One pod's view at one moment. */
export interface PodView {
  /** The pod as the cluster knew it when it was read. */
  readonly pod: ClusterPod
  readonly reachable: boolean
  readonly self: string | undefined
  readonly peers: ReadonlyArray<string>
  readonly stale: boolean
  readonly selfInDns: boolean
  readonly owned: ReadonlyArray<number>
  /** `miroir_peer_pod_count` as /metrics says. */
  readonly podCountMetric: number | undefined
  /** The result of the pod's latest lookups: `ok`, or `stale` while they fail. */
  readonly lookup: "ok" | "stale" | "unknown"
}

/** How often the pods are read while the observer waits: well below the shortest interval the simulator runs (250 ms). */
const POLL_INTERVAL = Duration.millis(20)

/** Generous: with dozens of pods starting on two cores, a healthy pod can take a while to answer. */
const READ_TIMEOUT = Duration.seconds(2)

/** `fetch` with a deadline of its own, `ms` from the start of each request. */
const fetchWithin = (ms: number): typeof globalThis.fetch => (input, init) =>
  globalThis.fetch(input, {
    ...init,
    signal: init?.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms)
  })

/**
 * Asks `pod` through the API's client (Client.layerFetch, which takes its `fetch` from the context); an
 * answer that outlasts `timeout` is a failure. The timeout is the request's own signal, which also bounds
 * a read whose fiber is interrupted: the observer reads every pod several times a second, and an
 * Effect.timeout (a fiber each) showed in the profile of 50 pods.
 */
export const ask = <A, E>(
  pod: ClusterPod,
  call: (api: Client.Client) => Effect.Effect<A, E, Client.PodUrl>,
  timeout: Duration.Duration = READ_TIMEOUT
): Effect.Effect<A, E, Client.PodClient> =>
  Effect.flatMap(Client.PodClient, call).pipe(
    Client.at(pod.url),
    Effect.provideService(FetchHttpClient.Fetch, fetchWithin(Duration.toMillis(timeout)))
  )

/**
 * The Prometheus text of `url`, or the failure as it came; a read that outlasts the timeout is aborted
 * (the request's own timeout, which also bounds a read whose fiber is interrupted).
 */
const getText = (url: string): Effect.Effect<string, unknown> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(url, { signal: AbortSignal.timeout(Duration.toMillis(READ_TIMEOUT)) })
      if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`)
      return await response.text()
    },
    catch: (cause) => cause
  })

/** The same labels in the same order: pods list their peers sorted, as DNS's published set is. */
const sameLabels = Arr.makeEquivalence<string>((a, b) => a === b)

/** The peers one pod lists now; none when it does not answer. */
export const peersOf = (
  pod: ClusterPod
): Effect.Effect<Option.Option<ReadonlyArray<string>>, never, Client.PodClient> =>
  ask(pod, (api) => api.peers.peers()).pipe(
    Effect.map((body) => Option.some(body.peers)),
    Effect.orElseSucceed(() => Option.none())
  )

/** Reads one pod. */
export const viewOf = (
  pod: ClusterPod,
  shards: number,
  withMetrics = false
): Effect.Effect<PodView, never, Client.PodClient> =>
  Effect.all({
    peers: ask(pod, (api) => api.peers.peers()),
    ownership: ask(pod, (api) => api.ownership.ownership({ query: { shards } })),
    metrics: withMetrics
      ? Effect.map(getText(pod.metricsUrl), (text) => metricValue(text, "miroir_peer_pod_count"))
      : Effect.succeed(undefined)
  }, { concurrency: "unbounded" }).pipe(
    Effect.map(({ metrics, ownership, peers }): PodView => ({
      pod,
      reachable: true,
      self: peers.self,
      peers: peers.peers,
      stale: peers.stale,
      selfInDns: peers.selfInDns,
      owned: ownership.owned,
      podCountMetric: metrics,
      lookup: peers.stale ? "stale" : "ok"
    })),
    Effect.orElseSucceed((): PodView => ({
      pod,
      reachable: false,
      self: undefined,
      peers: [],
      stale: false,
      selfInDns: false,
      owned: [],
      podCountMetric: undefined,
      lookup: "unknown"
    }))
  )

/** Reads every live pod at once (with `withMetrics`, their `/metrics` too). */
export const observe = (
  cluster: Cluster,
  shards: number,
  withMetrics = false
): Effect.Effect<ReadonlyArray<PodView>, never, Client.PodClient> =>
  Effect.flatMap(
    livePods(cluster),
    (pods) => Effect.forEach(pods, (pod) => viewOf(pod, shards, withMetrics), { concurrency: "unbounded" })
  )

/**
 * Reads every live pod until their views satisfy `done` (every 100 ms) and returns them; fails after
 * `timeout`. For what only the pods can tell, such as what they fall back to.
 */
export const awaitViews = (
  cluster: Cluster,
  shards: number,
  done: (views: ReadonlyArray<PodView>) => boolean,
  timeout: Duration.Input,
  what: string
): Effect.Effect<ReadonlyArray<PodView>, Error, Client.PodClient> =>
  pollUntil(what, observe(cluster, shards), done, { timeout, interval: Duration.millis(100) })

/** Whether `owned` lists, between the views, every shard of `0..shards-1` exactly once. */
export const disjointCover = (views: ReadonlyArray<PodView>, shards: number): boolean => {
  const all = views.flatMap((view) => view.owned).sort((a, b) => a - b)
  return all.length === shards && all.every((shard, i) => shard === i)
}

/**
 * Converged: every published pod answers, finds itself in its DNS answer and sees exactly the published
 * set, and together they own a disjoint cover of the shards. A pod that counts itself in before its DNS
 * answer lists it (behind a DNS cache) may see the published set already, but owns nothing yet.
 */
export const converged = (views: ReadonlyArray<PodView>, published: ReadonlyArray<string>, shards: number): boolean => {
  const publishedViews = views.filter((view) => published.includes(view.pod.label))
  return publishedViews.length === published.length
    && publishedViews.every((view) => view.reachable && view.selfInDns && sameLabels(view.peers, published))
    && disjointCover(publishedViews, shards)
}

/** Whether the pod's DNS answer lists it and its peers are exactly `published`; false when it does not answer. */
const agreesWith = (
  pod: ClusterPod,
  published: ReadonlyArray<string>
): Effect.Effect<boolean, never, Client.PodClient> =>
  ask(pod, (api) => api.peers.peers()).pipe(
    Effect.map((body) => body.selfInDns && sameLabels(body.peers, published)),
    Effect.orElseSucceed(() => false)
  )

/** How long to wait for the pods to follow a change: ten intervals, and never less than 15 s. */
const patience = (refreshInterval: Duration.Duration) =>
  Duration.millis(Math.max(15_000, 10 * Duration.toMillis(refreshInterval)))

/**
 * Waits until the pods converge on what DNS publishes and returns when the last one did (ms since the
 * epoch): each published pod is polled (its /peers only) until its DNS answer lists it and it lists
 * exactly the published set, then the ownership of all of them is checked once to be a disjoint cover.
 * Polling only the pods still behind, less often the more there are, keeps the observer from loading a
 * large cluster.
 */
export const awaitConverged = (
  cluster: Cluster,
  shards: number,
  refreshInterval: Duration.Duration,
  what: string
): Effect.Effect<number, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const published = yield* publishedLabels(cluster)
    const isBehind = (pod: ClusterPod) => Effect.map(agreesWith(pod, published), (agrees) => !agrees)
    const progress = yield* Ref.make({
      behind: (yield* livePods(cluster)).filter((pod) => published.includes(pod.label)),
      lastAt: Date.now()
    })
    const poll = Effect.gen(function*() {
      const { behind, lastAt } = yield* Ref.get(progress)
      const still = yield* Effect.filter(behind, isBehind, { concurrency: "unbounded" })
      return yield* Ref.setAndGet(progress, {
        behind: still,
        lastAt: still.length < behind.length ? Date.now() : lastAt
      })
    })
    const { lastAt } = yield* pollUntil(what, poll, ({ behind }) => behind.length === 0, {
      timeout: patience(refreshInterval),
      interval: Duration.millis(Math.max(Duration.toMillis(POLL_INTERVAL), 4 * published.length))
    })
    const views = yield* observe(cluster, shards)
    if (!converged(views, published, shards)) {
      return yield* Effect.fail(new Error(`${what}: the sets agree but the ownership is not a disjoint cover`))
    }
    return lastAt
  })

/**
 * Waits until no published pod other than the one labelled `gone` lists it, and returns when the last
 * of them stopped listing it (ms since the epoch). Pods that join meanwhile (a replacement) count
 * only for not listing it either.
 */
export const awaitDropped = (
  cluster: Cluster,
  gone: string,
  refreshInterval: Duration.Duration,
  what: string
): Effect.Effect<number, Error, Client.PodClient> =>
  Effect.gen(function*() {
    const lastAt = yield* Ref.make(Date.now())
    const listing = Effect.gen(function*() {
      const published = yield* publishedLabels(cluster)
      const survivors = (yield* livePods(cluster)).filter((pod) => pod.label !== gone && published.includes(pod.label))
      const still = yield* Effect.filter(survivors, (pod) =>
        Effect.map(peersOf(pod), (peers) => Option.exists(peers, (listed) => listed.includes(gone))), {
        concurrency: "unbounded"
      })
      if (still.length > 0) {
        yield* Ref.set(lastAt, Date.now())
      }
      return still.length
    })
    yield* pollUntil(what, listing, (still) =>
      still === 0, {
      timeout: patience(refreshInterval),
      interval: POLL_INTERVAL
    })
    return yield* Ref.get(lastAt)
  })
