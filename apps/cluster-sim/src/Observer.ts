/**
 * What the pods themselves say: each live pod's `/peers`, `/ownership` and `/metrics`, read over HTTP
 * as an operator would, and the convergence test the scenario measures against.
 */
import { Duration, Effect, Option } from "effect"
import type { EndpointsController, Pod } from "./EndpointsController.js"
import { POLL_INTERVAL, pollUntil } from "./internal/poll.js"

const POLL_INTERVAL_MS = Duration.toMillis(POLL_INTERVAL)

/** One pod's view at one moment. */
export interface PodView {
  readonly pod: Pod
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

/** Generous: with dozens of pods starting on two cores, a healthy pod can take a while to answer. */
const READ_TIMEOUT_MS = 2_000

const getJson = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return await response.json() as any
  })

const getText = (url: string) =>
  Effect.tryPromise(async () => (await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })).text())

/** The value of an unlabelled-or-labelled sample `name` in Prometheus text. */
export const metricValue = (text: string, name: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

/** The peers one pod lists now; none when it does not answer. */
export const peersOf = (pod: Pod): Effect.Effect<Option.Option<ReadonlyArray<string>>> =>
  getJson(`${pod.process.url}/peers`).pipe(
    Effect.map((body) => Option.some(body.peers as ReadonlyArray<string>)),
    Effect.orElseSucceed(() => Option.none())
  )

/** Reads one pod. */
export const viewOf = (pod: Pod, shards: number, withMetrics = false): Effect.Effect<PodView> =>
  Effect.all({
    peers: getJson(`${pod.process.url}/peers`),
    ownership: getJson(`${pod.process.url}/ownership?shards=${shards}`),
    metrics: withMetrics ? Effect.map(getText(pod.process.metricsUrl), (text) => metricValue(text, "miroir_peer_pod_count")) : Effect.succeed(undefined)
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

/** Reads every live pod at once. */
export const observe = (controller: EndpointsController, shards: number, withMetrics = false) =>
  Effect.suspend(() => Effect.forEach(controller.livePods(), (pod) => viewOf(pod, shards, withMetrics), { concurrency: "unbounded" }))

/** Whether `owned` lists, between the views, every shard of `0..shards-1` exactly once. */
export const disjointCover = (views: ReadonlyArray<PodView>, shards: number): boolean => {
  const all = views.flatMap((view) => view.owned).sort((a, b) => a - b)
  return all.length === shards && all.every((shard, i) => shard === i)
}

/**
 * Converged: every published pod answers, sees exactly the published set, and together they own a
 * disjoint cover of the shards.
 */
export const converged = (views: ReadonlyArray<PodView>, published: ReadonlyArray<string>, shards: number): boolean => {
  const publishedViews = views.filter((view) => published.includes(view.pod.label))
  return publishedViews.length === published.length
    && publishedViews.every((view) => view.reachable && view.peers.join() === published.join())
    && disjointCover(publishedViews, shards)
}

/**
 * Waits until the pods converge on what DNS publishes and returns when the last one did (ms since the
 * epoch): each published pod is polled (its /peers only) until it lists exactly the published set, then
 * the ownership of all of them is checked once to be a disjoint cover. Polling only the pods still
 * behind, less often the more there are, keeps the observer from loading a large cluster.
 */
export const awaitConverged = (
  controller: EndpointsController,
  shards: number,
  refreshInterval: Duration.Duration,
  what: string
): Effect.Effect<number, Error> =>
  Effect.gen(function*() {
    const published = controller.published()
    const pending = new Set(controller.livePods().filter((pod) => published.includes(pod.label)))
    let lastAt = Date.now()
    const at = yield* pollUntil(
      what,
      Duration.millis(Math.max(15_000, 10 * Duration.toMillis(refreshInterval))),
      Effect.gen(function*() {
        const seen = yield* Effect.forEach([...pending], (pod) => Effect.map(peersOf(pod), (peers) => [pod, peers] as const), {
          concurrency: "unbounded"
        })
        for (const [pod, peers] of seen) {
          if (Option.isSome(peers) && peers.value.join() === published.join()) {
            pending.delete(pod)
            lastAt = Date.now()
          }
        }
        return pending.size === 0 ? Option.some(lastAt) : Option.none()
      }),
      Duration.millis(Math.max(POLL_INTERVAL_MS, 4 * published.length))
    )
    const views = yield* observe(controller, shards)
    if (!converged(views, published, shards)) {
      return yield* Effect.fail(new Error(`${what}: the sets agree but the ownership is not a disjoint cover`))
    }
    return at
  })
