/** The `shards` parameter: decimal digits from 1 to MAX_POD_SHARDS, one message for every wrong value. */
import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { MAX_POD_SHARDS, Shards, SHARDS_EXPECTED } from "../src/Shards.js"

describe("Shards", () => {
  const decode = Schema.decodeUnknownResult(Shards)

  it("takes 1 to 65536 in decimal digits", () => {
    expect(MAX_POD_SHARDS).toBe(65_536)
    expect(decode("1")).toEqual(Result.succeed(1))
    expect(decode("65536")).toEqual(Result.succeed(65_536))
  })

  it("refuses anything else with the contract's one message", () => {
    for (const text of ["0", "65537", "-1", "1e3", "1.5", " 4", "abc", "", "0x10"]) {
      const result = decode(text)
      expect(Result.isFailure(result), text).toBe(true)
      if (Result.isFailure(result)) expect(String(result.failure), text).toContain(SHARDS_EXPECTED)
    }
  })
})
