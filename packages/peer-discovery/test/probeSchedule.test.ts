/** The probe rotation: in every slot each pod of the view is probed by exactly one other. */
import { describe, expect, it } from "vitest"
import * as ProbeSchedule from "../src/internal/probeSchedule.js"
import type { PeerId } from "../src/PeerId.js"

const view = (count: number): ReadonlyArray<PeerId> =>
  Array.from({ length: count }, (_, i) => `10-0-0-${i + 1}` as PeerId)

describe("probeSchedule", () => {
  it("probes each pod once per slot, never by itself, and each peer once per N − 1 slots", () => {
    for (let count = 2; count <= 9; count++) {
      const peers = view(count)
      const probedBy = new Map(peers.map((id) => [id, new Set<PeerId>()]))
      for (let slot = 1_000_000; slot < 1_000_000 + count - 1; slot++) {
        const targets = peers.map((self) => ProbeSchedule.targetOf(peers, self, slot)!)
        expect(new Set(targets).size).toBe(count)
        peers.forEach((self, i) => {
          expect(targets[i]).not.toBe(self)
          probedBy.get(targets[i]!)!.add(self)
        })
      }
      for (const [id, by] of probedBy) expect(by.size, `${id} at ${count} pods`).toBe(count - 1)
    }
  })

  /** Who probes each pod, slot by slot, over three rounds of the rotation. */
  const probersOf = (count: number): ReadonlyArray<ReadonlyArray<number>> => {
    const peers = view(count)
    return Array.from({ length: 3 * count }, (_, i) => {
      const probers = Array.from({ length: count }, () => -1)
      peers.forEach((self, prober) => {
        probers[peers.indexOf(ProbeSchedule.targetOf(peers, self, 1_000_000 + i)!)] = prober
      })
      return probers
    })
  }
  /** The longest run of slots in which some pod of `dead` has only dead probers. */
  const longestUnprobed = (probers: ReadonlyArray<ReadonlyArray<number>>, dead: ReadonlySet<number>) => {
    let longest = 0
    for (const target of dead) {
      let run = 0
      for (const slot of probers) {
        run = dead.has(slot[target]!) ? run + 1 : 0
        longest = Math.max(longest, run)
      }
    }
    return longest
  }
  const block = (count: number, from: number, size: number) =>
    new Set(Array.from({ length: size }, (_, i) => (from + i) % count))

  it("gives each pod of a dead block of the view (a node's pods) a live prober in one of two slots in a row", () => {
    for (let count = 3; count <= 40; count++) {
      const probers = probersOf(count)
      for (let size = 1; size <= Math.max(1, Math.floor(count / 2) - 1); size++) {
        for (let from = 0; from < count; from++) {
          expect(longestUnprobed(probers, block(count, from, size)), `${size} of ${count} from ${from}`)
            .toBeLessThanOrEqual(1)
        }
      }
    }
    // The benchmarks' dead node: 3 of 6 pods (stepping the offset by 1, the last of them waited two slots).
    for (let from = 0; from < 6; from++) expect(longestUnprobed(probersOf(6), block(6, from, 3))).toBe(1)
  })

  it("strides by the largest step up to half the offsets that visits each of them once", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 10, 14, 299].map(ProbeSchedule.strideOf)).toEqual([
      1,
      1,
      1,
      1,
      2,
      1,
      3,
      3,
      3,
      5,
      149
    ])
  })

  it("keeps the turn of a peer DNS dropped since the previous slot, and only that one", () => {
    const before = view(3)
    const after = before.filter((id) => id !== "10-0-0-3")
    // 10-0-0-1 probes 10-0-0-2 in even slots and 10-0-0-3 in odd ones, by the view of three.
    expect(ProbeSchedule.departedTarget(before, after, before[0]!, 1)).toBe("10-0-0-3")
    expect(ProbeSchedule.departedTarget(before, after, before[0]!, 2)).toBeUndefined()
    expect(ProbeSchedule.departedTarget(before, before, before[0]!, 1)).toBeUndefined()
    // The first slot has no previous view.
    expect(ProbeSchedule.departedTarget([], after, before[0]!, 1)).toBeUndefined()
  })

  it("probes nobody when alone or not in the view", () => {
    expect(ProbeSchedule.targetOf(view(1), view(1)[0]!, 7)).toBeUndefined()
    expect(ProbeSchedule.targetOf(view(3), "10-9-9-9" as PeerId, 7)).toBeUndefined()
  })
})
