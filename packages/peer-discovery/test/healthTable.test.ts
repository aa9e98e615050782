/** The failure detector's rules as pure data: no clock, no probes. */
import { describe, expect, it } from "vitest"
import * as HealthTable from "../src/internal/healthTable.js"
import type { PeerId } from "../src/PeerId.js"

const A = "10-0-0-2" as PeerId
const B = "10-0-0-3" as PeerId

describe("healthTable", () => {
  it("suspects on a confirmed failure and holds down only after enough failures over the suspicion timeout", () => {
    const [first, suspected] = HealthTable.failed(HealthTable.empty, A, 1_000, 2_000)
    expect(first).toBe("suspected")
    // A second failure before the timeout: still suspected.
    const [second, stillSuspected] = HealthTable.failed(suspected, A, 2_000, 2_000)
    expect(second).toBe("none")
    expect(HealthTable.inStatus(stillSuspected, "suspected")).toEqual([A])
    // Past the timeout, with two failures or more: held down.
    const [third, down] = HealthTable.failed(stillSuspected, A, 3_000, 2_000)
    expect(third).toBe("down")
    expect(HealthTable.inStatus(down, "down")).toEqual([A])
    // A down peer stays down until it answers.
    expect(HealthTable.failed(down, A, 9_000, 2_000)[0]).toBe("none")
    const [back, after] = HealthTable.answered(down, A)
    expect(back).toBe("back")
    expect(after.entries.size).toBe(0)
  })

  it("counts the suspicion from the first unanswered probe's sending, or from the silence an asker told", () => {
    // Sent at 1,000; a later probe sent at 2,900 fails (recorded late, at 3,400): 1.9 s of silence, not 2.
    const [, suspected] = HealthTable.failed(HealthTable.empty, A, 1_000, 2_000)
    expect(HealthTable.failed(suspected, A, 2_900, 2_000)[0]).toBe("none")
    expect(HealthTable.dueAt(suspected.entries.get(A)!, 2_000)).toBe(3_000)
    // Silent since 500 by the asker's word: the probe sent at 2,500 holds it down.
    const [, told] = HealthTable.failed(HealthTable.empty, A, 1_000, 2_000, 500)
    expect(HealthTable.failed(told, A, 2_400, 2_000)[0]).toBe("none")
    expect(HealthTable.failed(told, A, 2_500, 2_000)[0]).toBe("down")
    // A silence "since" later than the probe's sending is the probe's own.
    const [, late] = HealthTable.failed(HealthTable.empty, A, 1_000, 2_000, 5_000)
    expect(late.entries.get(A)!.since).toBe(1_000)
  })

  it("a single failure past the timeout does not hold a peer down", () => {
    const [, table] = HealthTable.failed(HealthTable.empty, A, 0, 0)
    expect(HealthTable.inStatus(table, "suspected")).toEqual([A])
  })

  it("an answer refutes a suspicion; answers about alive peers change nothing", () => {
    const [, suspected] = HealthTable.failed(HealthTable.empty, A, 0, 2_000)
    expect(HealthTable.answered(suspected, A)[0]).toBe("refuted")
    expect(HealthTable.answered(suspected, B)).toEqual(["none", suspected])
  })

  it("forgets the peers DNS no longer lists", () => {
    const [, table] = HealthTable.failed(HealthTable.empty, A, 0, 2_000)
    expect(HealthTable.keepListed(table, [A, B])).toBe(table)
    expect(HealthTable.keepListed(table, [B]).entries.size).toBe(0)
  })

  it("a slow pod stretches its timeouts, up to the maximum, and heals as it reaches peers", () => {
    let table = HealthTable.empty
    for (let i = 0; i < 20; i++) table = HealthTable.slow(table)
    expect(table.localHealth).toBe(HealthTable.LOCAL_HEALTH_MAX)
    expect(HealthTable.stretched(table, 500)).toBe(500 * (1 + HealthTable.LOCAL_HEALTH_MAX))
    expect(HealthTable.reached(table).localHealth).toBe(HealthTable.LOCAL_HEALTH_MAX - 1)
  })

  it("fences after enough rounds reaching nobody over the self-fence time, with at least two others listed", () => {
    let table = HealthTable.empty
    table = HealthTable.unreached(table, 1_000)
    table = HealthTable.unreached(table, 2_000)
    expect(HealthTable.fenced(table, 5_000, 3_000, 3)).toBe(false) // two rounds only
    table = HealthTable.unreached(table, 3_000)
    expect(HealthTable.fenced(table, 3_500, 3_000, 3)).toBe(false) // not long enough
    expect(HealthTable.fenced(table, 4_000, 3_000, 3)).toBe(true)
    expect(HealthTable.fenced(table, 4_000, 3_000, 1)).toBe(false) // one other: cannot tell who is cut off
    expect(HealthTable.fenced(HealthTable.reached(table), 9_000, 3_000, 3)).toBe(false)
  })

  it("does not fence a pod cut off from its peers while they still ping it: they count it alive", () => {
    let table = HealthTable.empty
    for (const at of [1_000, 2_000, 3_000]) table = HealthTable.unreached(table, at)
    table = HealthTable.pinged(table, 3_500)
    expect(HealthTable.fenced(table, 4_000, 3_000, 3)).toBe(false)
    expect(HealthTable.fenced(table, 6_400, 3_000, 3)).toBe(false)
    // No ping for the self-fence time: cut off both ways.
    expect(HealthTable.fenced(table, 6_500, 3_000, 3)).toBe(true)
  })

  it("fences a pod most of whose answering peers hold it down, within the self-fence time, and not otherwise", () => {
    let table = HealthTable.reported(HealthTable.empty, A, true, 1_000)
    // One answer holding it down is not enough with others to ask; it is with one peer in all.
    expect(HealthTable.fenced(table, 1_000, 3_000, 3)).toBe(false)
    expect(HealthTable.fenced(table, 1_000, 3_000, 1)).toBe(true)
    table = HealthTable.reported(table, B, false, 1_100)
    expect(HealthTable.fenced(table, 1_100, 3_000, 3)).toBe(false) // one against one: not most
    table = HealthTable.reported(table, "10-0-0-4" as PeerId, true, 1_200)
    expect(HealthTable.fenced(table, 1_200, 3_000, 3)).toBe(true) // two against one
    // Answers older than the self-fence time no longer count: at 4.05 s, A's (1.0 s) is gone.
    expect(HealthTable.heldDownByPeers(table, 4_000, 3_000, 3)).toBe(true)
    expect(HealthTable.heldDownByPeers(table, 4_050, 3_000, 3)).toBe(false)
    expect(HealthTable.heldDownByPeers(HealthTable.reported(table, B, true, 4_050), 4_050, 3_000, 3)).toBe(true)
    // A peer's newer answer replaces its older one; a peer DNS dropped no longer counts.
    expect(HealthTable.heldDownByPeers(HealthTable.reported(table, A, false, 1_300), 1_300, 3_000, 3)).toBe(false)
    expect(HealthTable.keepListed(table, [B]).reports.size).toBe(1)
  })
})
