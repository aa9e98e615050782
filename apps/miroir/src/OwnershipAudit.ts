/**
 * The ownership audit: is ownership right across the pods, now? Every pod can be wrong only in ways
 * it cannot see from inside (a stale view, the wrong Service, an id it does not recognise as its own),
 * so one pod asks all the others. That pod — the auditor — is the owner of {@link AUDIT_KEY} by the same
 * rendezvous rule as any key, over its own view: no election, and while views agree exactly one pod
 * audits (while they disagree, maybe two, which only repeats the work).
 *
 * Every interval the auditor asks each peer of its view for its view and the shards it owns (over the
 * pod HTTP API, bounded concurrency, bounded time each), adds its own, and reports:
 * - shards no pod claims (leaving out those of peers that did not answer: their claims are unknown),
 * - shards claimed by more than one pod,
 * - peers that did not answer, and why,
 * - the distinct views among the answers (1 when all agree),
 * - peers that answered under another id than the one they are listed under (a pod that does not
 *   recognise itself in DNS, so its view holds itself twice).
 * The report is kept for `GET /ownership/audit`, its counts go to the `miroir_ownership_audit_*` gauges,
 * and a change of findings is logged once, with counts and a few examples (bounded).
 */
import { type OwnershipView, PeerDiscoveryConfig, PeerSet, Rendezvous, ShardOwners } from "@miroir/peer-discovery"
import { Cause, Clock, Context, Duration, Effect, Layer, Metric, Option, Ref, Result, Schedule } from "effect"
import { AppConfig } from "./AppConfig.js"
import * as AppMetrics from "./AppMetrics.js"
import { auditInterval } from "./internal/auditInterval.js"
import { evaluate, type PeerAnswer, type Report } from "./AuditFindings.js"
import { PeerMessaging } from "./PeerMessaging.js"

/** The key whose owner is the auditor. */
export const AUDIT_KEY = "miroir/ownership-audit"

/** Peers asked at once. */
export const CONCURRENCY = 16

/** The bound of one request to a peer for an audit every `interval`: half of it, from 250 ms to 5 s. */
export const requestTimeout = (interval: Duration.Duration): Duration.Duration =>
  Duration.clamp(Duration.times(interval, 0.5), { minimum: Duration.millis(250), maximum: Duration.seconds(5) })

/** The interval {@link requestTimeout} is taken from when the audit is off (a round run by hand: `runOnce`). */
const INTERVAL_WHEN_OFF = Duration.seconds(10)

/** What the audit of a pod is doing: see `GET /ownership/audit`. */
export interface AuditState {
  /**
   * `disabled`: `MIROIR_OWNERSHIP_AUDIT_INTERVAL=off`; `pending`: this pod is the auditor and has not
   * finished an audit yet; `audited`: this pod is the auditor, `last` is its last audit;
   * `not-auditor`: another pod audits (`auditor`), `last` is this pod's own last audit, if it ever was one.
   */
  readonly status: "disabled" | "pending" | "audited" | "not-auditor"
  /** The auditor in this pod's view; none while disabled. */
  readonly auditor: Option.Option<string>
  /** Time between rounds; none while disabled. */
  readonly interval: Option.Option<Duration.Duration>
  readonly last: Option.Option<Report>
}

/** The finding counts of a report, as logged and compared to tell a change. */
const counts = (report: Report) => ({
  unowned: report.unowned.count,
  multiOwned: report.multiOwned.count,
  unknown: report.unknownShards,
  unreachable: report.unreachable.count,
  views: report.views.distinct,
  mismatches: report.identityMismatches.count
})

const setGauges = (report: Option.Option<Report>, isAuditor: boolean) =>
  Effect.all([
    Metric.update(AppMetrics.auditIsAuditor, isAuditor ? 1 : 0),
    // A pod that is not the auditor reports no findings, so that max() over the pods is the auditor's.
    Metric.update(
      AppMetrics.auditUnownedShards,
      Option.match(report, { onNone: () => 0, onSome: (r) => r.unowned.count })
    ),
    Metric.update(
      AppMetrics.auditMultiOwnedShards,
      Option.match(report, { onNone: () => 0, onSome: (r) => r.multiOwned.count })
    ),
    Metric.update(
      AppMetrics.auditUnreachablePeers,
      Option.match(report, { onNone: () => 0, onSome: (r) => r.unreachable.count })
    ),
    Metric.update(
      AppMetrics.auditDistinctViews,
      Option.match(report, { onNone: () => 0, onSome: (r) => r.views.distinct })
    ),
    Metric.update(
      AppMetrics.auditIdentityMismatches,
      Option.match(report, { onNone: () => 0, onSome: (r) => r.identityMismatches.count })
    )
  ], { discard: true })

/** What the audit offers. */
export interface Service {
  /** The state now: who audits, and the last audit of this pod. */
  readonly state: Effect.Effect<AuditState>
  /** One round now (what the loop does every interval): audit if this pod is the auditor. */
  readonly runOnce: Effect.Effect<AuditState>
}

/** The audit as a service. */
export class OwnershipAudit extends Context.Service<OwnershipAudit, Service>()("@miroir/miroir/OwnershipAudit") {}

/** Settings of {@link make}. */
export interface Options {
  /** Time between rounds; none: the audit is off. */
  readonly interval: Option.Option<Duration.Duration>
  /** Shards audited (`MIROIR_SHARDS`). */
  readonly shards: number
}

/** Builds the audit; with an interval, its loop runs in a fiber of the current scope. */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const rendezvous = yield* Rendezvous.Rendezvous
    const messaging = yield* PeerMessaging
    const timeout = requestTimeout(Option.getOrElse(options.interval, () => INTERVAL_WHEN_OFF))
    const state = yield* Ref.make<AuditState>({
      status: Option.isSome(options.interval) ? "pending" : "disabled",
      auditor: Option.none(),
      interval: options.interval,
      last: Option.none()
    })

    const audit = (view: OwnershipView.OwnershipView) =>
      Effect.gen(function*() {
        const { set } = view
        const started = yield* Clock.currentTimeMillis
        const expected = yield* rendezvous.owners(view.peers, options.shards)
        const own: PeerAnswer = {
          peer: set.self,
          // What this pod's own /ownership answers: the view's peers.
          answer: Result.succeed({
            self: set.self,
            peers: view.peers,
            digest: PeerSet.digestOf(view.peers),
            shards: options.shards,
            owned: ShardOwners.ownedBy(expected, set.self)
          })
        }
        const others = yield* Effect.forEach(
          set.peers.filter((peer) => peer !== set.self),
          (peer) =>
            messaging.ownership(peer, options.shards, timeout).pipe(
              Effect.result,
              Effect.map((answer): PeerAnswer => ({ peer, answer: Result.mapError(answer, (error) => error.reason) }))
            ),
          { concurrency: CONCURRENCY }
        )
        const at = new Date(yield* Clock.currentTimeMillis)
        return evaluate({
          auditor: set.self,
          expected,
          peerAnswers: [own, ...others],
          health: view.health,
          at,
          durationMs: at.getTime() - started
        })
      })

    const runOnce = Effect.gen(function*() {
      const view = yield* rendezvous.view
      const set = view.set
      const auditor = Rendezvous.ownerIn(AUDIT_KEY, view)
      const before = yield* Ref.get(state)
      if (auditor !== set.self) {
        if (before.status !== "not-auditor" || Option.getOrUndefined(before.auditor) !== auditor) {
          yield* Effect.logInfo("another pod audits ownership").pipe(Effect.annotateLogs({ auditor }))
        }
        yield* setGauges(Option.none(), false)
        return yield* Ref.updateAndGet(
          state,
          (s) => ({ ...s, status: "not-auditor" as const, auditor: Option.some(auditor) })
        )
      }
      const report = yield* audit(view)
      yield* setGauges(Option.some(report), true)
      yield* Metric.update(AppMetrics.auditLastRunTimestamp, Date.parse(report.at) / 1000)
      yield* Metric.update(AppMetrics.auditRuns, 1)
      const previous = Option.map(before.last, counts)
      const now = counts(report)
      if (!Option.isSome(previous) || JSON.stringify(previous.value) !== JSON.stringify(now)) {
        const log = report.ok
          ? Effect.logInfo("ownership audit: no findings")
          : Effect.logWarning("ownership audit found problems")
        yield* log.pipe(Effect.annotateLogs({
          ...now,
          peers: report.peersAsked,
          answered: report.answered,
          // A few examples, bounded: the full lists (also bounded) are in GET /ownership/audit.
          unownedShards: report.unowned.shards.slice(0, 5).join(","),
          multiOwnedShards: report.multiOwned.shards.slice(0, 5).map((s) => s.shard).join(","),
          unreachablePeers: report.unreachable.peers.slice(0, 5).map((p) => p.peer).join(",")
        }))
      }
      return yield* Ref.updateAndGet(
        state,
        (s) => ({ ...s, status: "audited" as const, auditor: Option.some(auditor), last: Option.some(report) })
      )
    }).pipe(Effect.annotateLogs({ service: "ownership-audit" }))

    if (Option.isSome(options.interval)) {
      yield* setGauges(Option.none(), false)
      // 0 = never, so that "no audit for a while" can be alerted on from the start (max over the pods).
      yield* Metric.update(AppMetrics.auditLastRunTimestamp, 0)
      // The first round after one interval: at start the pods are still finding each other.
      yield* runOnce.pipe(
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError("ownership audit failed; the next round comes", cause).pipe(
              Effect.annotateLogs({ service: "ownership-audit" })
            )
        ),
        Effect.schedule(Schedule.spaced(options.interval.value)),
        Effect.forkScoped
      )
    }
    return { state: Ref.get(state), runOnce } satisfies Service
  })

/**
 * The audit over the pod's ownership (its view) and messaging, as its settings say (`MIROIR_SHARDS`,
 * `MIROIR_OWNERSHIP_AUDIT_INTERVAL` and the refresh interval); its loop stops when the layer's scope closes.
 */
export const layer: Layer.Layer<
  OwnershipAudit,
  never,
  | AppConfig
  | PeerDiscoveryConfig.PeerDiscoveryConfig
  | Rendezvous.Rendezvous
  | PeerMessaging
> = Layer.effect(
  OwnershipAudit,
  Effect.gen(function*() {
    const { ownershipAuditInterval, shards } = yield* AppConfig
    const { refreshInterval } = yield* PeerDiscoveryConfig.PeerDiscoveryConfig
    return yield* make({ interval: auditInterval(ownershipAuditInterval, refreshInterval), shards })
  })
)
