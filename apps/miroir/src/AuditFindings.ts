/**
 * The findings of one ownership audit, pure: the answers of every peer of the auditor's view (and its own)
 * against the owners its view gives, turned into the report `GET /ownership/audit` carries. Every rule is
 * tested here without processes; OwnershipAudit.ts asks the peers and keeps the reports.
 */
import { type PeerHealth, PeerSet, type ShardOwners } from "@miroir/peer-discovery"
import type { AuditReport, OwnershipBody } from "@miroir/pod-api"
import { Result } from "effect"

/** Items listed per finding in a report (the counts are complete). */
export const MAX_LISTED = 20

/** One audit's findings, as `GET /ownership/audit` carries them (the schema is the contract's). */
export type Report = typeof AuditReport.Type

/** One peer asked: its answer, or why there was none. */
export interface PeerAnswer {
  readonly peer: string
  readonly answer: Result.Result<typeof OwnershipBody.Type, string>
}

/** What {@link evaluate} needs. */
export interface Input {
  readonly auditor: string
  /** The owners over the auditor's view, at the audited shard count. */
  readonly expected: ShardOwners.ShardOwners
  /** Every peer of the auditor's view, the auditor included. */
  readonly peerAnswers: ReadonlyArray<PeerAnswer>
  /** The auditor's failure detector's verdicts. */
  readonly health: PeerHealth.Health
  readonly at: Date
  readonly durationMs: number
}

/** The findings of one audit: pure, so that every rule is tested without processes. */
export const evaluate = (input: Input): Report => {
  const { expected, peerAnswers } = input
  const shards = expected.shards
  const answers: Array<{ readonly peer: string; readonly answer: typeof OwnershipBody.Type }> = []
  const unreachable: Array<{ peer: string; reason: string }> = []
  for (const { peer, answer } of peerAnswers) {
    Result.match(answer, {
      onFailure: (reason) => void unreachable.push({ peer, reason }),
      onSuccess: (a) =>
        a.shards === shards
          ? void answers.push({ peer, answer: a })
          : void unreachable.push({ peer, reason: `answered for ${a.shards} shards, not ${shards}` })
    })
  }

  const claims = new Int32Array(shards)
  for (const { answer } of answers) {
    for (const shard of answer.owned) if (shard >= 0 && shard < shards) claims[shard]!++
  }
  // Shards the auditor's view gives to a silent peer: unknown rather than unowned.
  const silent = new Set(unreachable.map(({ peer }) => expected.peers.indexOf(peer)).filter((i) => i >= 0))
  const unowned: Array<number> = []
  const multiOwned: Array<number> = []
  let unknownShards = 0
  for (let shard = 0; shard < shards; shard++) {
    const count = claims[shard]!
    if (count >= 2) multiOwned.push(shard)
    else if (count === 0) {
      if (silent.has(expected.owner[shard]!)) unknownShards++
      else unowned.push(shard)
    }
  }
  const listedMulti = new Map(multiOwned.slice(0, MAX_LISTED).map((shard) => [shard, [] as Array<string>]))
  for (const { peer, answer } of answers) {
    for (const shard of answer.owned) listedMulti.get(shard)?.push(peer)
  }

  const views = new Map<string, { digest: string; pods: number; peers: number; heldBy: Array<string> }>()
  for (const { peer, answer } of answers) {
    const digest = PeerSet.digestOf(answer.peers)
    const view = views.get(digest) ?? { digest, pods: 0, peers: answer.peers.length, heldBy: [] }
    view.pods++
    if (view.heldBy.length < 5) view.heldBy.push(peer)
    views.set(digest, view)
  }
  const mismatches = answers.filter(({ peer, answer }) => answer.self !== peer)

  const report: Omit<Report, "ok"> = {
    auditor: input.auditor,
    at: input.at.toISOString(),
    durationMs: input.durationMs,
    shards,
    digest: PeerSet.digestOf(expected.peers),
    peersAsked: peerAnswers.length,
    answered: answers.length,
    unowned: { count: unowned.length, shards: unowned.slice(0, MAX_LISTED) },
    multiOwned: {
      count: multiOwned.length,
      shards: [...listedMulti].map(([shard, owners]) => ({ shard, owners }))
    },
    unknownShards,
    unreachable: { count: unreachable.length, peers: unreachable.slice(0, MAX_LISTED) },
    views: {
      distinct: views.size,
      views: [...views.values()].sort((a, b) => b.pods - a.pods || a.digest.localeCompare(b.digest)).slice(
        0,
        MAX_LISTED
      )
    },
    health: { suspected: input.health.suspected, down: input.health.down, fenced: input.health.fenced },
    identityMismatches: {
      count: mismatches.length,
      peers: mismatches.slice(0, MAX_LISTED).map(({ peer, answer }) => ({ peer, answeredAs: answer.self }))
    }
  }
  return {
    ...report,
    ok: unowned.length === 0 && multiOwned.length === 0 && unreachable.length === 0 && views.size <= 1 &&
      mismatches.length === 0
  }
}
