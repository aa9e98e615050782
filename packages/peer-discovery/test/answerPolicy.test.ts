/**
 * The answer policy alone, without a clock or a resolver: a previous set, the shrink held (if any) and one
 * lookup's result in, a decision out. Each row is one rule the library keeps (DESIGN.md §3).
 */
import { describe, expect, it } from "vitest"
import { Option, Result } from "effect"
import { DnsLookupError, type DnsOutcome } from "../src/DnsLookupError.js"
import * as AnswerPolicy from "../src/internal/answerPolicy.js"
import * as PeerDiscoveryConfig from "../src/PeerDiscoveryConfig.js"
import * as PeerId from "../src/PeerId.js"
import * as PeerSet from "../src/PeerSet.js"
import { podIds, SRV_NAME } from "./support/fixtures.js"

/** This pod: 10-0-0-1 (the test settings). */
const identity = PeerId.identify(PeerDiscoveryConfig.testSettings)
const before = new Date("2026-12-03T12:00:00Z")
const at = new Date("2026-12-03T12:00:15Z")

/** The set an answer listing pods 10.0.0.1 … 10.0.0.n gave at `before` (n = 0: NXDOMAIN, this pod alone). */
const setOf = (n: number) => PeerSet.fromAnswer(identity, podIds(n).map(PeerId.PeerId), before)
/** The same, with pods `others` (10.0.0.`k`) instead of 10.0.0.1 … n. */
const setWith = (...others: ReadonlyArray<number>) =>
  PeerSet.fromAnswer(identity, others.map((k) => PeerId.PeerId(`10-0-0-${k}`)), before)

/** An answer listing pods 10.0.0.`k` for each `k`. */
const listing = (...pods: ReadonlyArray<number>) =>
  Result.succeed<AnswerPolicy.Listed>({ ids: pods.map((k) => PeerId.PeerId(`10-0-0-${k}`)), addresses: new Map() })
const upTo = (n: number) => listing(...Array.from({ length: n }, (_, i) => i + 1))
const failed = (outcome: DnsOutcome) =>
  Result.fail<DnsLookupError>(
    new DnsLookupError({ outcome, name: SRV_NAME, rrtype: "SRV", received: outcome === "truncated" ? 0 : undefined })
  )

/** The shrink an earlier answer held: from `peers` pods to `answered`, removing pods 10.0.0.`k` for each `k`. */
const held = (peers: number, answered: number, ...removed: ReadonlyArray<number>) =>
  Option.some<AnswerPolicy.HeldShrink>({
    removed: new Set(removed.map((k) => PeerId.PeerId(`10-0-0-${k}`))),
    peers,
    answered
  })

interface Row {
  readonly rule: string
  readonly previous: PeerSet.PeerSet
  readonly held?: Option.Option<AnswerPolicy.HeldShrink>
  readonly result: Result.Result<AnswerPolicy.Listed, DnsLookupError>
  readonly decision: AnswerPolicy.Decision["_tag"]
  /** The peers of the set after the lookup (the previous ones when the answer is held). */
  readonly peers: ReadonlyArray<number>
  readonly stale?: boolean
  readonly selfInDns?: boolean
  /** For a held answer: the pods it would remove. */
  readonly holds?: ReadonlyArray<number>
  /** Whether a held shrink ends unconfirmed (dropped). */
  readonly drops?: boolean
}

const rows: ReadonlyArray<Row> = [
  // A failed lookup never shrinks the set: kept, marked stale.
  ...(["servfail", "refused", "timeout", "error"] as const).map((outcome): Row => ({
    rule: `a failed lookup (${outcome}) keeps the set, marked stale`,
    previous: setOf(3),
    result: failed(outcome),
    decision: "MarkStale",
    peers: [1, 2, 3],
    stale: true
  })),
  {
    rule: "a truncated answer is a failure, never a smaller set",
    previous: setOf(5),
    result: failed("truncated"),
    decision: "MarkStale",
    peers: [1, 2, 3, 4, 5],
    stale: true
  },
  {
    rule: "a failure after a failure keeps the set stale",
    previous: PeerSet.markStale(setOf(3)),
    result: failed("timeout"),
    decision: "MarkStale",
    peers: [1, 2, 3],
    stale: true
  },
  // NXDOMAIN and no data are answers: no ready pods, only this pod, fresh.
  ...(["nxdomain", "nodata"] as const).map((outcome): Row => ({
    rule: `${outcome} is an answer: this pod alone, fresh`,
    previous: setOf(0),
    result: failed(outcome),
    decision: "Apply",
    peers: [1],
    stale: false,
    selfInDns: false
  })),
  {
    rule: "NXDOMAIN after peers leaves this pod alone: a large shrink, held",
    previous: setOf(3),
    result: failed("nxdomain"),
    decision: "Hold",
    peers: [1, 2, 3],
    holds: [2, 3]
  },
  // This pod always counts itself in.
  {
    rule: "an answer that does not list this pod still counts it in",
    previous: setWith(2, 3),
    result: listing(2, 3),
    decision: "Apply",
    peers: [1, 2, 3],
    selfInDns: false
  },
  {
    rule: "an answer that lists this pod says so",
    previous: setOf(0),
    result: upTo(3),
    decision: "Apply",
    peers: [1, 2, 3],
    selfInDns: true
  },
  // Growth and small shrinks apply at once; an answer after failures is fresh again.
  {
    rule: "a larger set applies at once",
    previous: setOf(3),
    result: upTo(5),
    decision: "Apply",
    peers: [1, 2, 3, 4, 5]
  },
  { rule: "removing 1 of 3 applies at once", previous: setOf(3), result: upTo(2), decision: "Apply", peers: [1, 2] },
  {
    rule: "removing 2 of 4 (half) applies at once",
    previous: setOf(4),
    result: upTo(2),
    decision: "Apply",
    peers: [1, 2]
  },
  {
    rule: "an answer after failures clears stale",
    previous: PeerSet.markStale(setOf(3)),
    result: upTo(3),
    decision: "Apply",
    peers: [1, 2, 3],
    stale: false
  },
  // A large shrink is applied only once a second lookup agrees.
  {
    rule: "removing more than half is held, the set unchanged",
    previous: setOf(6),
    result: upTo(2),
    decision: "Hold",
    peers: [1, 2, 3, 4, 5, 6],
    holds: [3, 4, 5, 6]
  },
  {
    rule: "replacing every other peer is held",
    previous: setOf(3),
    result: listing(1, 7, 8),
    decision: "Hold",
    peers: [1, 2, 3],
    holds: [2, 3]
  },
  {
    rule: "the next answer that agrees confirms the held shrink",
    previous: setOf(6),
    held: held(6, 2, 3, 4, 5, 6),
    result: upTo(2),
    decision: "Confirm",
    peers: [1, 2]
  },
  {
    rule: "an answer that leaves out still more also confirms it",
    previous: setOf(6),
    held: held(6, 2, 3, 4, 5, 6),
    result: upTo(1),
    decision: "Confirm",
    peers: [1]
  },
  {
    rule: "an answer that brings the set back drops the held shrink",
    previous: setOf(6),
    held: held(6, 2, 3, 4, 5, 6),
    result: upTo(6),
    decision: "Apply",
    peers: [1, 2, 3, 4, 5, 6],
    drops: true
  },
  {
    rule: "an answer that brings back one removed peer and is a large shrink itself is held in turn",
    previous: setOf(6),
    held: held(6, 2, 3, 4, 5, 6),
    result: listing(1, 6),
    decision: "Hold",
    peers: [1, 2, 3, 4, 5, 6],
    holds: [2, 3, 4, 5],
    drops: true
  },
  {
    rule: "a failed lookup drops the held shrink and keeps the set, stale",
    previous: setOf(4),
    held: held(4, 1, 2, 3, 4),
    result: failed("servfail"),
    decision: "MarkStale",
    peers: [1, 2, 3, 4],
    stale: true,
    drops: true
  },
  {
    rule: "a truncated answer after a held shrink is no confirmation",
    previous: setOf(4),
    held: held(4, 1, 2, 3, 4),
    result: failed("truncated"),
    decision: "MarkStale",
    peers: [1, 2, 3, 4],
    stale: true,
    drops: true
  }
]

const ids = (pods: ReadonlyArray<number>) => pods.map((k) => `10-0-0-${k}`)

describe("the answer policy", () => {
  for (const row of rows) {
    it(row.rule, () => {
      const pending = row.held ?? Option.none()
      const decision = AnswerPolicy.decide({ identity, previous: row.previous, held: pending, result: row.result, at })
      expect(decision._tag).toBe(row.decision)
      const set = decision._tag === "Hold" ? row.previous : decision.set
      expect(set.peers).toEqual(ids(row.peers))
      expect(set.peers).toContain(identity.fallback)
      if (row.stale !== undefined) expect(set.stale).toBe(row.stale)
      if (row.selfInDns !== undefined) expect(set.selfInDns).toBe(row.selfInDns)
      if (decision._tag === "Hold") {
        expect([...decision.shrink.removed].sort()).toEqual(ids(row.holds ?? []))
        expect(decision.shrink.peers).toBe(row.previous.peers.length)
      }
      if (decision._tag === "Confirm") expect(Option.some(decision.confirmed)).toEqual(pending)
      else expect(Option.isSome(decision.unconfirmed)).toBe(row.drops === true)
      // Only a held answer leaves a shrink waiting; every other decision ends the one held.
      expect(Option.isSome(AnswerPolicy.heldAfter(decision))).toBe(decision._tag === "Hold")
    })
  }

  it("marks a set stale once: a stale set is kept as it is", () => {
    const stale = PeerSet.markStale(setOf(3))
    const decision = AnswerPolicy.decide({
      identity,
      previous: stale,
      held: Option.none(),
      result: failed("timeout"),
      at
    })
    expect(decision._tag === "MarkStale" && decision.set).toBe(stale)
  })

  it("dates an applied answer and keeps what later answers keep (leaving, addresses, everListed)", () => {
    const previous = PeerSet.markLeaving(
      PeerSet.fromAnswer(
        identity,
        ids([1, 2, 3]).map(PeerId.PeerId),
        before,
        undefined,
        new Map([[PeerId.PeerId("10-0-0-2"), ["10.0.0.2"]]])
      )
    )
    const decision = AnswerPolicy.decide({ identity, previous, held: Option.none(), result: listing(2, 3), at })
    expect(decision._tag).toBe("Apply")
    if (decision._tag !== "Apply") return
    expect(decision.set.refreshedAt).toEqual(Option.some(at))
    expect(decision.set.leaving).toBe(true)
    expect(decision.set.everListed).toBe(true)
    expect(decision.set.selfInDns).toBe(false)
    expect(decision.set.addresses.get(PeerId.PeerId("10-0-0-2"))).toEqual(["10.0.0.2"])
  })

  it("waits a quarter interval for the confirmation, at most a second", () => {
    expect(AnswerPolicy.confirmationDelay(PeerDiscoveryConfig.testSettings.refreshInterval)).toEqual(
      AnswerPolicy.CONFIRMATION_DELAY_MAX
    )
  })
})
