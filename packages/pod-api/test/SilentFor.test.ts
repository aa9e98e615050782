/** The `silentForMs` parameter: decimal digits from 0 to MAX_SILENT_FOR_MS, one message for every wrong value. */
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { MAX_SILENT_FOR_MS, SILENT_FOR_EXPECTED, SilentForMs } from "../src/SilentFor.js"

describe("SilentForMs", () => {
  const decode = Schema.decodeUnknownResult(SilentForMs)

  it("takes 0 to an hour of milliseconds in decimal digits, a leading zero included", () => {
    expect(MAX_SILENT_FOR_MS).toBe(3_600_000)
    expect(decode("0")).toEqual(Result.succeed(0))
    expect(decode("01500")).toEqual(Result.succeed(1_500))
    expect(decode("3600000")).toEqual(Result.succeed(3_600_000))
    expect(Schema.encodeSync(SilentForMs)(1_500)).toBe("1500")
  })

  it("refuses anything else with the contract's one message", () => {
    for (const text of ["3600001", "-1", "1e3", "1.5", " 4", "abc", "", "0x10", "000000001500"]) {
      const result = decode(text)
      expect(Result.isFailure(result), text).toBe(true)
      if (Result.isFailure(result)) expect(String(result.failure), text).toContain(SILENT_FOR_EXPECTED)
    }
  })
})
