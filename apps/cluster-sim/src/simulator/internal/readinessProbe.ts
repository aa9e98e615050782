/**
 * The simulator's readiness probe, as a kubelet runs one: `GET /readyz` every period with the request's
 * own timeout, a pod unready after `failureThreshold` failures in a row, until the pod is no longer live.
 */
import { Duration, Effect, Ref, Schedule } from "effect"
import { type PodTable, probed } from "./podTable.js"

/** The probe's settings (the kubelet's periodSeconds, timeoutSeconds, failureThreshold). */
export interface ProbeSettings {
  readonly probePeriod: Duration.Duration
  readonly probeTimeout: Duration.Duration
  readonly failureThreshold: number
}

// A failed probe is an answer, not an error: it resolves false. The timeout is the request's own, like
// the kubelet's, and bounds it even when the prober is interrupted. With dozens of pods probed every
// period, an Effect.timeout (a fiber each), an AbortController and an error value per failure showed in
// the profile of the simulator's process.
const readyz = (url: string, timeoutMs: number) =>
  Effect.promise(() =>
    fetch(`${url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) }).then(
      async (response) => {
        await response.body?.cancel()
        return response.ok
      },
      () => false
    )
  )

/** Probes pod `name` at `url` every period while it is live, updating its readiness in `table`. */
export const probe = (table: PodTable, name: string, url: string, settings: ProbeSettings) =>
  Effect.gen(function*() {
    const timeoutMs = Duration.toMillis(settings.probeTimeout)
    const failures = yield* Ref.make(0)
    const probeOnce = Effect.gen(function*() {
      const ok = yield* readyz(url, timeoutMs)
      const inARow = ok ? 0 : (yield* Ref.get(failures)) + 1
      yield* Ref.set(failures, inARow)
      yield* table.update(name, probed(ok, inARow, settings.failureThreshold))
      return yield* table.isLive(name)
    })
    yield* Effect.repeat(probeOnce, { schedule: Schedule.spaced(settings.probePeriod), while: (live) => live })
  })
