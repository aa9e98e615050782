/** What an error answer quotes of a value it received: all of a short one, a bounded prefix of a long one. */
import { describe, expect, it } from "vitest"
import { EXCERPT_CHARACTERS, excerpt, quoteExcerpt } from "../src/internal/excerpt.js"

describe("excerpt", () => {
  it("keeps a value of at most 64 characters whole", () => {
    expect(excerpt("abc")).toBe("abc")
    expect(excerpt("x".repeat(EXCERPT_CHARACTERS))).toBe("x".repeat(64))
    expect(quoteExcerpt("a\"b")).toBe("\"a\\\"b\"")
  })

  it("cuts a longer one to its first 64 characters, an ellipsis and its length", () => {
    expect(excerpt("9".repeat(16_000))).toBe(`${"9".repeat(64)}… (16000 characters)`)
    expect(quoteExcerpt("9".repeat(65))).toBe(`"${"9".repeat(64)}…" (65 characters)`)
  })

  it("counts characters, not UTF-16 units, and never cuts one in half", () => {
    // 64 emoji are 128 UTF-16 units: still whole.
    expect(excerpt("😀".repeat(64))).toBe("😀".repeat(64))
    expect(excerpt("😀".repeat(65))).toBe(`${"😀".repeat(64)}… (65 characters)`)
  })
})
