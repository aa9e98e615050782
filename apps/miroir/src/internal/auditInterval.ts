/** Parsing `MIROIR_OWNERSHIP_AUDIT_INTERVAL`, and the time between audits it gives. */
import { ConfigVariable } from "@miroir/peer-discovery"
import { Duration, Option, Result } from "effect"

/** How often the ownership audit runs: `auto` (three refresh intervals), `off`, or a duration. */
export type AuditInterval = "auto" | "off" | Duration.Duration

/** The shortest interval accepted: an audit asks every peer, more often would load the pods for nothing. */
export const MIN_AUDIT_INTERVAL = Duration.millis(250)
/** The longest interval accepted: past it, the alerts built on the audit would wait for hours. */
export const MAX_AUDIT_INTERVAL = Duration.hours(1)

/** `auto`, `off` (or `0`), or a duration from 250ms to 1h (`1500ms`, `45s`, `2m`, effect's `45 seconds`). */
export const parseAuditInterval: ConfigVariable.Parse<AuditInterval> = (value) => {
  const text = value.trim().toLowerCase()
  if (text === "auto") return Result.succeed("auto")
  if (text === "off" || text === "0") return Result.succeed("off")
  return Result.mapError(
    ConfigVariable.durationBetween(MIN_AUDIT_INTERVAL, MAX_AUDIT_INTERVAL)(text),
    () => "auto, off, or a duration from 250ms to 1h such as 45s or 2m"
  )
}

/** Refresh intervals between two audits when `MIROIR_OWNERSHIP_AUDIT_INTERVAL` is `auto`. */
const AUTO_AUDIT_INTERVALS = 3

/** The time between two ownership audits for `setting` and the refresh interval; none when they are off. */
export const auditInterval = (
  setting: AuditInterval,
  refreshInterval: Duration.Duration
): Option.Option<Duration.Duration> =>
  setting === "off"
    ? Option.none()
    : Option.some(setting === "auto" ? Duration.times(refreshInterval, AUTO_AUDIT_INTERVALS) : setting)
