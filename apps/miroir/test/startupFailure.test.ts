import { describe, expect, it } from "@effect/vitest"
import { ConfigError } from "@miroir/peer-discovery"
import { Cause, Data, Option } from "effect"
import { describeFailure } from "../src/internal/startupFailure.js"

class ServeError extends Data.TaggedError("ServeError")<{ readonly cause: unknown }> {}

describe("describeFailure", () => {
  it("says nothing for a stop by signal (interruption only)", () => {
    expect(describeFailure(Cause.interrupt(0 as never))).toEqual(Option.none())
  })

  it("gives a configuration error as it reads", () => {
    const error = new ConfigError.ConfigError({
      variable: "MIROIR_SHARDS",
      value: "0",
      expected: "an integer from 1 to 65536"
    })
    expect(describeFailure(Cause.fail(error))).toEqual(
      Option.some("invalid configuration: MIROIR_SHARDS=\"0\": expected an integer from 1 to 65536")
    )
  })

  it("names the HTTP server for a listen error", () => {
    const error = new ServeError({ cause: new Error("listen EADDRINUSE: address already in use 127.0.0.2:7700") })
    expect(describeFailure(Cause.fail(error))).toEqual(
      Option.some("cannot start the HTTP server: listen EADDRINUSE: address already in use 127.0.0.2:7700")
    )
  })

  it("gives a defect by its name and message, on one line", () => {
    const defect = new RangeError("The \"options.timeout\" property must be <= 2147483647.\nReceived 2149200000")
    expect(describeFailure(Cause.die(defect))).toEqual(
      Option.some(
        "miroir failed: RangeError: The \"options.timeout\" property must be <= 2147483647. Received 2149200000"
      )
    )
    expect(describeFailure(Cause.die("a string"))).toEqual(Option.some("miroir failed: a string"))
  })
})
