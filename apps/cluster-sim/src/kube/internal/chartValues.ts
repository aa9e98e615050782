/**
 * The chart values the real-Kubernetes harness installs Miroir with: the image by digest, R, and probes
 * and grace periods short enough that a run takes seconds, not minutes.
 */
import { Duration } from "effect"
import type { MiroirImage } from "../Image.js"

/** R as the chart writes durations (`250ms`, `2s`). */
const chartDuration = (duration: Duration.Duration): string => {
  const ms = Math.round(Duration.toMillis(duration))
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}

/** What of a cluster's options decides the values (KubeCluster's Options has these and more). */
export interface ValuesSettings {
  /** The image the chart installs by its digest. */
  readonly image: MiroirImage
  readonly replicas: number
  /** The pods' refresh interval R. */
  readonly refreshInterval: Duration.Duration
  /** Refresh hints (the chart's `peerHints.enabled`); on by default. */
  readonly peerHints?: boolean
  /** More chart values, merged over the ones set here. */
  readonly values?: Readonly<Record<string, unknown>>
}

/**
 * The values the harness installs with: the image by digest (imported into the node, never pulled), R and
 * a lookup timeout of R/5 (as 3 s of 15 s), probes every second (the API's smallest period) and a short
 * grace period, so that a run takes seconds, not minutes; refresh hints as {@link ValuesSettings.peerHints}
 * says.
 */
export const harnessValues = (options: ValuesSettings): Record<string, unknown> => ({
  image: { repository: options.image.repository, digest: options.image.digest, pullPolicy: "Never" },
  replicaCount: options.replicas,
  discovery: {
    refreshInterval: chartDuration(options.refreshInterval),
    lookupTimeout: chartDuration(
      Duration.millis(Math.max(100, Math.floor(Duration.toMillis(options.refreshInterval) / 5)))
    )
  },
  probes: {
    startup: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 30 },
    readiness: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 },
    liveness: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 5 }
  },
  terminationGracePeriodSeconds: 10,
  // A short preStop delay (the chart's default is 5 s): deletions still go through the hook, quickly.
  lifecycle: { preStopSleepSeconds: 1 },
  // The ownership audit and the refresh hints run as the chart has them (audit every 3R): the pods reach
  // each other at their pod IPs over the node's bridge.
  peerHints: { enabled: options.peerHints ?? true },
  ...options.values
})
