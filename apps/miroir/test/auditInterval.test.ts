/** MIROIR_OWNERSHIP_AUDIT_INTERVAL: auto, off, or a duration in range, else an error naming it. */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Duration, Effect, Either, Option } from "effect"
import * as AppConfig from "../src/AppConfig.js"
import * as App from "../src/App.js"
import { parseAuditInterval } from "../src/internal/auditInterval.js"
import { podSettings } from "./support/settings.js"

const load = (value: string | undefined) =>
  Effect.runSync(Effect.either(AppConfig.load.pipe(
    Effect.withConfigProvider(
      ConfigProvider.fromMap(new Map(value === undefined ? [] : [["MIROIR_OWNERSHIP_AUDIT_INTERVAL", value]]))
    )
  )))

describe("MIROIR_OWNERSHIP_AUDIT_INTERVAL", () => {
  it("is auto by default: three refresh intervals", () => {
    const settings = Either.getOrThrow(load(undefined))
    expect(settings.ownershipAuditInterval).toBe("auto")
    const app = { ...podSettings("10.0.0.1", 9090), app: settings }
    expect(Option.map(App.auditInterval(app), Duration.toMillis)).toEqual(Option.some(45_000))
    expect(App.auditInterval({ ...app, app: { ...settings, ownershipAuditInterval: "off" } })).toEqual(Option.none())
  })

  it("takes off, 0 and durations from 250ms to 1h", () => {
    expect(parseAuditInterval("off")).toEqual(Either.right("off"))
    expect(parseAuditInterval("0")).toEqual(Either.right("off"))
    expect(parseAuditInterval("AUTO")).toEqual(Either.right("auto"))
    expect(parseAuditInterval("250ms")).toEqual(Either.right(Duration.millis(250)))
    expect(parseAuditInterval("45s")).toEqual(Either.right(Duration.seconds(45)))
    expect(parseAuditInterval("1h")).toEqual(Either.right(Duration.hours(1)))
    expect(parseAuditInterval("2 minutes")).toEqual(Either.right(Duration.minutes(2)))
  })

  it("refuses anything else with an error naming the variable and the value", () => {
    for (const bad of ["100ms", "2h", "soon", "-1s", "1e3"]) {
      const result = load(bad)
      expect(Either.isLeft(result), bad).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.message).toBe(
          `invalid configuration: MIROIR_OWNERSHIP_AUDIT_INTERVAL=${
            JSON.stringify(bad)
          }: expected auto, off, or a duration from 250ms to 1h such as 45s or 2m`
        )
      }
    }
  })
})
