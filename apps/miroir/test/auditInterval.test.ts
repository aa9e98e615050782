/** MIROIR_OWNERSHIP_AUDIT_INTERVAL: auto, off, or a duration in range, else an error naming it. */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Duration, Effect, Result, Option } from "effect"
import * as AppConfig from "../src/AppConfig.js"
import { auditInterval, parseAuditInterval } from "../src/internal/auditInterval.js"

const load = (value: string | undefined) =>
  Effect.runSync(Effect.result(AppConfig.load.pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromUnknown(value === undefined ? {} : { MIROIR_OWNERSHIP_AUDIT_INTERVAL: value }, {
        preserveEmptyStrings: true
      })
    )
  )))

describe("MIROIR_OWNERSHIP_AUDIT_INTERVAL", () => {
  it("is auto by default: three refresh intervals", () => {
    const settings = Result.getOrThrow(load(undefined))
    expect(settings.ownershipAuditInterval).toBe("auto")
    const refreshInterval = Duration.seconds(15)
    expect(Option.map(auditInterval(settings.ownershipAuditInterval, refreshInterval), Duration.toMillis)).toEqual(
      Option.some(45_000)
    )
    expect(auditInterval("off", refreshInterval)).toEqual(Option.none())
  })

  it("takes off, 0 and durations from 250ms to 1h", () => {
    expect(parseAuditInterval("off")).toEqual(Result.succeed("off"))
    expect(parseAuditInterval("0")).toEqual(Result.succeed("off"))
    expect(parseAuditInterval("AUTO")).toEqual(Result.succeed("auto"))
    expect(parseAuditInterval("250ms")).toEqual(Result.succeed(Duration.millis(250)))
    expect(parseAuditInterval("45s")).toEqual(Result.succeed(Duration.seconds(45)))
    expect(parseAuditInterval("1h")).toEqual(Result.succeed(Duration.hours(1)))
    expect(parseAuditInterval("2 minutes")).toEqual(Result.succeed(Duration.minutes(2)))
  })

  it("refuses anything else with an error naming the variable and the value", () => {
    for (const bad of ["100ms", "2h", "soon", "-1s", "1e3"]) {
      const result = load(bad)
      expect(Result.isFailure(result), bad).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure.message).toBe(
          `invalid configuration: MIROIR_OWNERSHIP_AUDIT_INTERVAL=${
            JSON.stringify(bad)
          }: expected auto, off, or a duration from 250ms to 1h such as 45s or 2m`
        )
      }
    }
  })
})
