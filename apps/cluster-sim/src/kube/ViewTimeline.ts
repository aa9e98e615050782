/**
 * What a timeline of samples (ViewSampler.ts) says about one broken moment: when the survivors agreed,
 * when every shard had an owner again, and how many shard-seconds had no owner or more than one. Pure
 * functions of the samples, so that the healing benchmark's cases and the acceptance read them the same way.
 */
import type { PodSample, Sample } from "./ViewSampler.js"

/** The pods whose claims count: every pod that answered, unless `counted` says otherwise. */
export type Counted = (pod: PodSample) => boolean

/** How many counted pods claim each shard in one sample (a pod that does not answer claims nothing). */
export const ownerCounts = (sample: Sample, shards: number, counted: Counted = () => true): ReadonlyArray<number> => {
  const counts = Array.from({ length: shards }, () => 0)
  for (const pod of sample.pods) {
    if (!pod.answered || !counted(pod)) continue
    for (const shard of pod.owned) if (shard < shards) counts[shard] = (counts[shard] ?? 0) + 1
  }
  return counts
}

/** Shard-seconds with no owner and with more than one, between `from` and `to` (ms since the epoch). */
export interface ShardSeconds {
  readonly unowned: number
  readonly doublyOwned: number
  /** The longest stretch any one shard had no owner, in ms. */
  readonly longestUnownedMs: number
  readonly samples: number
}

/**
 * Integrates the samples between `from` and `to`: each sample's counts hold until the next one (the
 * last until `to`). A shard with 0 owners adds the time to `unowned`, one with 2 or more to `doublyOwned`.
 */
export const shardSeconds = (
  timeline: ReadonlyArray<Sample>,
  shards: number,
  from: number,
  to: number,
  counted: Counted = () => true
): ShardSeconds => {
  const within = timeline.filter((s) => s.at >= from && s.at <= to)
  let unownedMs = 0
  let doublyMs = 0
  const since = new Map<number, number>()
  let longest = 0
  within.forEach((s, i) => {
    const until = within[i + 1]?.at ?? to
    const elapsed = Math.max(0, until - s.at)
    ownerCounts(s, shards, counted).forEach((n, shard) => {
      if (n === 0) {
        unownedMs += elapsed
        const began = since.get(shard) ?? s.at
        since.set(shard, began)
        longest = Math.max(longest, until - began)
      } else {
        since.delete(shard)
        if (n > 1) doublyMs += elapsed
      }
    })
  })
  return { unowned: unownedMs / 1000, doublyOwned: doublyMs / 1000, longestUnownedMs: longest, samples: within.length }
}

/** The time of the first sample at or after `from` that satisfies `holds`; undefined if none does. */
export const firstAt = (
  timeline: ReadonlyArray<Sample>,
  from: number,
  holds: (sample: Sample) => boolean
): number | undefined => timeline.find((s) => s.at >= from && holds(s))?.at

/**
 * The survivors agree: each of `survivors` (labels) answered, lists exactly `expected` as its effective
 * peers, and they all show the same digest.
 */
export const survivorsAgree = (
  sample: Sample,
  survivors: ReadonlyArray<string>,
  expected: ReadonlyArray<string>
): boolean => {
  const views = sample.pods.filter((pod) => survivors.includes(pod.label))
  const wanted = [...expected].sort().join()
  return views.length === survivors.length
    && views.every((view) => view.answered && [...view.peers].sort().join() === wanted)
    && new Set(views.map((view) => view.digest)).size === 1
}

/** Every shard has at least one owner among the counted pods that answered. */
export const everyShardOwned = (sample: Sample, shards: number, counted: Counted = () => true): boolean =>
  ownerCounts(sample, shards, counted).every((n) => n >= 1)

/** Every shard has exactly one owner among the counted pods that answered. */
export const everyShardOwnedOnce = (sample: Sample, shards: number, counted: Counted = () => true): boolean =>
  ownerCounts(sample, shards, counted).every((n) => n === 1)

/** Whether any pod of the sample holds `label` down. */
export const heldDown = (sample: Sample, label: string): boolean =>
  sample.pods.some((pod) => pod.answered && pod.down.includes(label))
