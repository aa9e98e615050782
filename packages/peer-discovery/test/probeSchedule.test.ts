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

  it("probes nobody when alone or not in the view", () => {
    expect(ProbeSchedule.targetOf(view(1), view(1)[0]!, 7)).toBeUndefined()
    expect(ProbeSchedule.targetOf(view(3), "10-9-9-9" as PeerId, 7)).toBeUndefined()
  })
})
