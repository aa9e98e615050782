/** MIROIR_PEER_HINTS: on by default, on or off (any case), else an error naming the variable. */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Result } from "effect"
import * as AppConfig from "../src/AppConfig.js"

const load = (value: string | undefined) =>
  Effect.runSync(Effect.result(AppConfig.load.pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromUnknown(value === undefined ? {} : { MIROIR_PEER_HINTS: value }, {
        preserveEmptyStrings: true
      })
    )
  )))

describe("MIROIR_PEER_HINTS", () => {
  it("is on by default, and takes on and off", () => {
    expect(Result.getOrThrow(load(undefined)).peerHints).toBe("on")
    expect(Result.getOrThrow(load("off")).peerHints).toBe("off")
    expect(Result.getOrThrow(load("OFF")).peerHints).toBe("off")
    expect(Result.getOrThrow(load("on")).peerHints).toBe("on")
  })

  it("refuses anything else with an error naming the variable and the value", () => {
    for (const bad of ["false", "no", "1"]) {
      const result = load(bad)
      expect(Result.isFailure(result), bad).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure.message).toBe(
          `invalid configuration: MIROIR_PEER_HINTS=${JSON.stringify(bad)}: expected one of "on", "off"`
        )
      }
    }
  })
})
