/** MIROIR_PEER_HINTS: on by default, on or off (any case), else an error naming the variable. */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Either } from "effect"
import * as AppConfig from "../src/AppConfig.js"

const load = (value: string | undefined) =>
  Effect.runSync(Effect.either(AppConfig.load.pipe(
    Effect.withConfigProvider(
      ConfigProvider.fromMap(new Map(value === undefined ? [] : [["MIROIR_PEER_HINTS", value]]))
    )
  )))

describe("MIROIR_PEER_HINTS", () => {
  it("is on by default, and takes on and off", () => {
    expect(Either.getOrThrow(load(undefined)).peerHints).toBe("on")
    expect(Either.getOrThrow(load("off")).peerHints).toBe("off")
    expect(Either.getOrThrow(load("OFF")).peerHints).toBe("off")
    expect(Either.getOrThrow(load("on")).peerHints).toBe("on")
  })

  it("refuses anything else with an error naming the variable and the value", () => {
    for (const bad of ["false", "no", "1"]) {
      const result = load(bad)
      expect(Either.isLeft(result), bad).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.message).toBe(
          `invalid configuration: MIROIR_PEER_HINTS=${JSON.stringify(bad)}: expected one of "on", "off"`
        )
      }
    }
  })
})
