/**
 * What the pods say while a test or the healing benchmark breaks them (crashes, freezes, partitions):
 * every live pod's effective view (its `/ownership`: the peers DNS lists minus those it holds down, their digest and its shards) and its
 * failure detector's state (`/peers`: `suspected`, `down`, `fenced`), read as raw JSON so that the same
 * code reads pods with and without the detector (fields a pod does not send are empty), sampled every
 * 200 ms into a timeline read afterwards (ViewTimeline.ts).
 */
import { type Cluster, type ClusterPod, livePods } from "../Cluster.js"
import { metricSum, parseSamples } from "@miroir/process-kit/metricsText"
import { Duration, Effect, Fiber, Ref, Schedule } from "effect"

/** One pod at one sample; `answered` false when it did not answer both reads within the timeout. */
export interface PodSample {
  readonly name: string
  readonly label: string
  readonly ip: string
  readonly answered: boolean
  /** `/ownership`'s peers: DNS's list minus what the pod holds down (all of DNS's without a detector). */
  readonly peers: ReadonlyArray<string>
  readonly digest: string
  readonly owned: ReadonlyArray<number>
  /** `/peers`' detector fields; empty (and false) when the pod has no detector. */
  readonly suspected: ReadonlyArray<string>
  readonly down: ReadonlyArray<string>
  readonly fenced: boolean
}

/** Every live pod at one moment. */
export interface Sample {
  readonly at: number
  readonly pods: ReadonlyArray<PodSample>
}

/** A reading outlasting this is a pod that does not answer (frozen, partitioned from nobody but slow). */
const READ_TIMEOUT_MS = 1000

const getJson = async (url: string): Promise<Record<string, unknown>> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) })
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`)
  return await response.json() as Record<string, unknown>
}

const strings = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []

/** Reads one pod's `/ownership?shards=` and `/peers`. */
export const readPod = (pod: ClusterPod, shards: number): Effect.Effect<PodSample> =>
  Effect.promise(async () => {
    try {
      const [ownership, peers] = await Promise.all([
        getJson(`${pod.url}/ownership?shards=${shards}`),
        getJson(`${pod.url}/peers`)
      ])
      return {
        name: pod.name,
        label: pod.label,
        ip: pod.ip,
        answered: true,
        peers: strings(ownership.peers),
        digest: String(ownership.digest),
        owned: Array.isArray(ownership.owned) ? ownership.owned.filter((n): n is number => typeof n === "number") : [],
        suspected: strings(peers.suspected),
        down: strings(peers.down),
        fenced: peers.fenced === true
      }
    } catch {
      return {
        name: pod.name,
        label: pod.label,
        ip: pod.ip,
        answered: false,
        peers: [],
        digest: "",
        owned: [],
        suspected: [],
        down: [],
        fenced: false
      }
    }
  })

/**
 * Reads every live pod at once, or those `include` keeps: a pod known not to answer (frozen, on a dead
 * node) would hold every sample for the read's whole timeout, and it owns nothing for the sampler anyway.
 */
export const readAll = (
  cluster: Cluster,
  shards: number,
  include: (pod: ClusterPod) => boolean = () => true
): Effect.Effect<Sample> =>
  Effect.gen(function*() {
    const pods = (yield* livePods(cluster)).filter(include)
    const read = yield* Effect.forEach(pods, (pod) => readPod(pod, shards), { concurrency: "unbounded" })
    return { at: Date.now(), pods: read }
  })

/** A sampling under way: its latest sample, and how to stop it. */
export interface Sampling {
  /** The latest sample; undefined before the first. */
  readonly latest: Effect.Effect<Sample | undefined>
  /** Stops the sampling and returns the timeline. */
  readonly stop: Effect.Effect<ReadonlyArray<Sample>>
}

/**
 * Samples every live pod (those `include` keeps, asked at each sample) every `every` (200 ms by default)
 * until {@link Sampling.stop}.
 */
export const sample = (
  cluster: Cluster,
  shards: number,
  every: Duration.Input = Duration.millis(200),
  include: (pod: ClusterPod) => boolean = () => true
): Effect.Effect<Sampling> =>
  Effect.gen(function*() {
    const timeline = yield* Ref.make<ReadonlyArray<Sample>>([])
    const fiber = yield* Effect.forkChild(
      Effect.repeat(
        Effect.flatMap(readAll(cluster, shards, include), (one) => Ref.update(timeline, (all) => [...all, one])),
        Schedule.spaced(every)
      )
    )
    return {
      latest: Effect.map(Ref.get(timeline), (all) => all.at(-1)),
      stop: Effect.andThen(Fiber.interrupt(fiber), Ref.get(timeline))
    }
  })

/** The failure detector's counters and gauges of one pod, from its `/metrics`; zeros without a detector. */
export interface DetectorMetrics {
  /** Whether the pod exports the detector's metrics at all (false: a pod without it, or it is off). */
  readonly present: boolean
  readonly probesSent: number
  readonly probesReceived: number
  readonly suspected: number
  readonly refuted: number
  readonly down: number
  readonly selfFenced: number
}

const count = (text: string, name: string, label: string, value: string) =>
  parseSamples(text).filter((s) => s.name === name && s.labels[label] === value).reduce((t, s) => t + s.value, 0)

/** Reads one pod's detector metrics; undefined when it does not answer. */
export const readMetrics = (pod: ClusterPod): Effect.Effect<DetectorMetrics | undefined> =>
  Effect.promise(async () => {
    try {
      const response = await fetch(pod.metricsUrl, { signal: AbortSignal.timeout(2 * READ_TIMEOUT_MS) })
      const text = await response.text()
      return {
        present: text.includes("miroir_peer_probes_sent_total"),
        probesSent: metricSum(text, "miroir_peer_probes_sent_total"),
        probesReceived: metricSum(text, "miroir_peer_probes_received_total"),
        suspected: count(text, "miroir_peer_suspicions_total", "result", "suspected"),
        refuted: count(text, "miroir_peer_suspicions_total", "result", "refuted"),
        down: count(text, "miroir_peer_suspicions_total", "result", "down"),
        selfFenced: metricSum(text, "miroir_self_fenced")
      }
    } catch {
      return undefined
    }
  })
