/**
 * The one line a pod prints on stderr when it stops with an error: configuration errors as they are,
 * a port that cannot be listened on, and anything else — a defect included — by its name and message,
 * so that no failure exits 1 silently (a lookup timeout of 597 h once did: node:dns threw a RangeError).
 */
import { Cause, Option, Result } from "effect"

/** An error with a tag, as the start-up's typed failures are. */
interface TaggedFailure {
  readonly _tag: string
  readonly message: string
  readonly cause?: unknown
}

const isTagged = (error: unknown): error is TaggedFailure =>
  typeof error === "object" && error !== null && "_tag" in error && "message" in error

/** The message of anything thrown or failed with: `Name: message` for errors, else its text. */
const messageOf = (error: unknown): string => {
  if (isTagged(error)) {
    return error._tag === "ServeError"
      ? `cannot start the HTTP server: ${messageOf(error.cause)}`
      : error.message
  }
  if (error instanceof Error) return error.name === "Error" ? error.message : `${error.name}: ${error.message}`
  return String(error)
}

/** Collapses line breaks and runs of blanks, so that the reason stays on one line. */
const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

/**
 * The line for the cause that ended the program; none when it ended by interruption only (SIGTERM or
 * SIGINT, a normal stop). A typed failure reads as its own message (`invalid configuration: …`); a
 * defect as `miroir failed: RangeError: …`.
 */
export const describeFailure = <E>(cause: Cause.Cause<E>): Option.Option<string> => {
  if (Cause.hasInterruptsOnly(cause)) return Option.none()
  return Option.match(Cause.findErrorOption(cause), {
    onSome: (error) => Option.some(oneLine(messageOf(error))),
    onNone: () =>
      Result.match(Cause.findDefect(cause), {
        onSuccess: (defect) => Option.some(oneLine(`miroir failed: ${messageOf(defect)}`)),
        onFailure: () => Option.some(oneLine(`miroir failed: ${Cause.pretty(cause)}`))
      })
  })
}
