/**
 * A leave's delay as written (`5s`, `500ms`), as a plain function with no Effect in it: the admin API's
 * `delay` parameter (AdminApi/Contract.ts, a Schema over it) and `miroir leave --delay` (LeaveCommand.ts,
 * which starts without Effect) read it alike.
 */

/** The longest delay: the chart's `lifecycle.preStopSleepSeconds` allows as much. */
export const MAX_LEAVE_DELAY_SECONDS = 3600

/** What a delay must look like, after the name of what carries it and before the value received. */
export const LEAVE_DELAY_EXPECTED = `must be a duration such as 5s or 500ms, from 0s to ${MAX_LEAVE_DELAY_SECONDS}s`

/** The milliseconds of a delay written as whole seconds (`5s`) or milliseconds (`500ms`), at most the longest; none otherwise. */
export const delayMillis = (text: string): number | undefined => {
  const match = /^(\d{1,7})(ms|s)$/.exec(text)
  if (match === null) return undefined
  const millis = Number(match[1]) * (match[2] === "s" ? 1000 : 1)
  return millis <= MAX_LEAVE_DELAY_SECONDS * 1000 ? millis : undefined
}
