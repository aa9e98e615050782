/** Parsing `MIROIR_OWNERSHIP_AUDIT_INTERVAL`. */
import { Duration, Either, Option } from "effect"

/** How often the ownership audit runs: `auto` (three refresh intervals), `off`, or a duration. */
export type AuditInterval = "auto" | "off" | Duration.Duration

/** The shortest interval accepted: an audit asks every peer, more often would load the pods for nothing. */
export const MIN_AUDIT_INTERVAL = Duration.millis(250)
/** The longest interval accepted: past it, the alerts built on the audit would wait for hours. */
export const MAX_AUDIT_INTERVAL = Duration.hours(1)

const SHORT = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/
const UNITS = { ms: "millis", s: "seconds", m: "minutes", h: "hours" } as const

/** `auto`, `off` (or `0`), or a duration from 250ms to 1h (`1500ms`, `45s`, `2m`, effect's `45 seconds`). */
export const parseAuditInterval = (value: string): Either.Either<AuditInterval, string> => {
  const expected = "auto, off, or a duration from 250ms to 1h such as 45s or 2m"
  const text = value.trim().toLowerCase()
  if (text === "auto") return Either.right("auto")
  if (text === "off" || text === "0") return Either.right("off")
  const short = SHORT.exec(text)
  const duration = short
    ? Option.some(Duration.decode(`${Number(short[1])} ${UNITS[short[2] as keyof typeof UNITS]}`))
    : Duration.decodeUnknown(text)
  return Option.match(duration, {
    onNone: () => Either.left(expected),
    onSome: (d) =>
      Duration.isFinite(d) && Duration.between(d, { minimum: MIN_AUDIT_INTERVAL, maximum: MAX_AUDIT_INTERVAL })
        ? Either.right(d)
        : Either.left(expected)
  })
}
