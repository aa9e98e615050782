/** The counts of open connections, in all and per source, and who gets in. */
import { describe, expect, it } from "vitest"
import { ConnectionLimits } from "../src/internal/connectionLimits.js"

describe("ConnectionLimits", () => {
  it("refuses a source past its own limit, whatever the total", () => {
    const limits = new ConnectionLimits({ total: 100, perSource: 2, reserve: 0, lightSource: 0 })
    expect([limits.admit("a"), limits.admit("a"), limits.admit("a")]).toEqual([undefined, undefined, "per-source"])
    expect(limits.admit("b")).toBeUndefined()
    expect(limits.size).toBe(3)
    limits.release("a")
    expect(limits.admit("a")).toBeUndefined()
  })

  it("refuses past the total, but lets a light source use the reserve", () => {
    const limits = new ConnectionLimits({ total: 4, perSource: 10, reserve: 2, lightSource: 2 })
    for (let i = 0; i < 4; i++) expect(limits.admit("heavy")).toBeUndefined()
    expect(limits.admit("heavy")).toBe("total")
    // A source holding fewer than 2 gets in on the reserve, up to 2 of them in all.
    expect(limits.admit("kubelet")).toBeUndefined()
    expect(limits.admit("kubelet")).toBeUndefined()
    expect(limits.heldBy("kubelet")).toBe(2)
    expect(limits.admit("other")).toBe("total")
    expect(limits.size).toBe(6)
  })

  it("forgets a source once its last connection is released, and ignores a release too many", () => {
    const limits = new ConnectionLimits({ total: 4, perSource: 4, reserve: 0, lightSource: 0 })
    limits.admit("a")
    limits.release("a")
    limits.release("a")
    expect(limits.size).toBe(0)
    expect(limits.heldBy("a")).toBe(0)
  })
})
