/**
 * Reading one environment variable with effect's `Config` and explaining a bad value — the one way every
 * configuration of Miroir (the library's, the pod service's, telemetry's) reads its settings.
 *
 * A variable is a `Config` ({@link variable}) whose text a {@link Parse} function turns into a value or
 * into the sentence saying what was expected. Such `Config`s compose as any others (`Config.all`,
 * `Config.withDefault`, `Config.option`, `Config.mapEffect` with {@link invalid} for checks that span
 * variables), and {@link load} runs one against the current `ConfigProvider` (the environment, unless
 * a test provides another, such as `ConfigProvider.fromUnknown`), failing with a {@link ConfigError} that
 * names the variable, the value and what was expected.
 *
 * Every configuration module has the same shape: `Settings` (the validated values), `config` (the
 * `Config` that reads them), `load` (`config` loaded with {@link load}) and, when services read the
 * settings from the context, a `Context.Service` of the same name with its `layer`.
 */
import { Config, ConfigProvider, Duration, Effect, Option, Result, Schema } from "effect"
import { ConfigError } from "./ConfigError.js"

/** A value parsed from its text, or the sentence saying what the text should have been (`an integer from 1 to 64`). */
export type Parse<A> = (text: string) => Result.Result<A, string>

/** How {@link variable} reads a value. */
export interface Options {
  /** The text taken when the variable is unset, parsed (and refused) like any value. */
  readonly default?: string
  /**
   * Surrounding blanks are ignored and a blank value counts as unset (so that `Config.withDefault` and
   * `Config.option` apply), as for the pod service's variables. Off by default: the library's variables are
   * taken as written, and a set but empty value is refused like any other (when the `ConfigProvider` reports
   * it: effect's providers count an empty value as unset unless made with `preserveEmptyStrings`).
   */
  readonly trimmed?: boolean
}

/**
 * An invalid value of `variable` (for `Config.mapEffect`, e.g. a check between two variables): {@link load}
 * turns it into a {@link ConfigError} naming `variable`, `value` and `expected`.
 */
export const invalid = (variable: string, value: string, expected: string): Config.ConfigError =>
  // Our error rides as the cause of effect's: it names the variable and the value as written, which effect's
  // error does not (its path is not always the variable's, and a default's error has none).
  new Config.ConfigError(
    new ConfigProvider.SourceError({
      message: `invalid configuration: ${variable}`,
      cause: new ConfigError({ variable, value, expected })
    })
  )

/**
 * The last segment of the path {@link unset} reads: no provider has a value there (an environment variable's
 * name cannot hold a NUL, and a variable's text has no children).
 */
const UNSET = "\u0000unset"

/**
 * A `Config` of `name` that is always missing, as an unset variable is: `Config.withDefault` and
 * `Config.option` apply to it (they recover from missing values only, not from invalid ones).
 */
const unset = (name: string): Config.Config<string> => Config.schema(Schema.String, [name, UNSET])

/**
 * The environment variable `name`, its text parsed by `parse`. A bad value fails the `Config` with an
 * error that {@link load} reports as `invalid configuration: NAME="value": expected …`, and that
 * `Config.withDefault` and `Config.option` let through; an unset one (or, `trimmed`, a blank one) fails as
 * missing, so `Config.withDefault` and `Config.option` apply to it as usual.
 */
export const variable = <A>(name: string, parse: Parse<A>, options: Options = {}): Config.Config<A> => {
  const written = Config.String(name)
  const unsetOrDefault = options.default === undefined ? unset(name) : Config.succeed(options.default)
  const text = options.trimmed
    ? Config.flatMap(
      Config.option(written),
      (raw) => Option.isNone(raw) || raw.value.trim() === "" ? unsetOrDefault : Config.succeed(raw.value)
    )
    : options.default === undefined
    ? written
    : Config.withDefault(written, options.default)
  return Config.mapEffect(text, (raw) =>
    Result.match(parse(options.trimmed ? raw.trim() : raw), {
      onFailure: (expected) => Effect.fail(invalid(name, raw, expected)),
      onSuccess: Effect.succeed
    }))
}

/** What a schema issue of effect's own `Config` (not one of ours) expected, without its path. */
const issueText = (issue: Schema.SchemaError["issue"]): string => {
  const inner = issue._tag === "Pointer" ? issue.issue : issue
  // A variable that is not set is a value of the wrong type, `undefined`.
  return inner._tag === "InvalidType" && inner.input === undefined
    ? "a value (the variable is not set)"
    : new Schema.SchemaError(inner).message
}

/** Our {@link ConfigError} of effect's: the one of an invalid value, else one naming the variable effect names. */
const fromEffectError = (error: Config.ConfigError): ConfigError => {
  const cause = error.cause
  if (cause._tag === "SourceError") {
    if (cause.cause instanceof ConfigError) return cause.cause
    return new ConfigError({ variable: "(environment)", value: "", expected: `a readable value (${cause.message})` })
  }
  const path = cause.issue._tag === "Pointer" ? cause.issue.path.filter((segment) => segment !== UNSET) : []
  return new ConfigError({
    variable: path.length === 0 ? "(environment)" : path.map(String).join("_"),
    value: "",
    expected: issueText(cause.issue)
  })
}

/** Reads `config` from the current `ConfigProvider`; a bad value fails with a {@link ConfigError} naming it. */
export const load = <A>(config: Config.Config<A>): Effect.Effect<A, ConfigError> =>
  Effect.mapError(config, fromEffectError)

// --- Parsers shared by every configuration -------------------------------------------------------

/** One of the given words, case-insensitive. */
export const oneOf = <const Word extends string>(words: ReadonlyArray<Word>): Parse<Word> => (text) => {
  const word = text.trim().toLowerCase()
  return (words as ReadonlyArray<string>).includes(word)
    ? Result.succeed(word as Word)
    : Result.fail(`one of ${words.map((w) => `"${w}"`).join(", ")}`)
}

/** An integer from `min` to `max`, written in decimal digits. */
export const integer = (min: number, max: number): Parse<number> => (text) => {
  const number = Number(text)
  return /^-?\d+$/.test(text) && number >= min && number <= max
    ? Result.succeed(number)
    : Result.fail(`an integer from ${min} to ${max}`)
}

/** The largest TCP or UDP port. */
export const MAX_PORT = 65_535

const SHORT_DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/
const SHORT_UNITS = { ms: "millis", s: "seconds", m: "minutes", h: "hours" } as const

/** `250ms`, `15s`, `1m`, `1h`, or effect's `15 seconds`; positive and finite. */
export const duration: Parse<Duration.Duration> = (text) => {
  const expected = "a positive duration such as 250ms, 15s, 1m or \"15 seconds\""
  const trimmed = text.trim()
  const short = SHORT_DURATION.exec(trimmed)
  const decoded = short
    ? Duration.fromInput(`${Number(short[1])} ${SHORT_UNITS[short[2] as keyof typeof SHORT_UNITS]}`)
    : Duration.fromInput(trimmed as Duration.Input)
  return Option.match(decoded, {
    onNone: () => Result.fail(expected),
    onSome: (d) =>
      Duration.isFinite(d) && Duration.isGreaterThan(d, Duration.zero) ? Result.succeed(d) : Result.fail(expected)
  })
}

/**
 * A duration as {@link duration} reads it, from `min` to `max` inclusive; the error names the range.
 * Bounds keep a setting where it makes sense and where a timer can be set at all (Node's timers hold at
 * most 2^31-1 ms, about 24.8 days).
 */
export const durationBetween = (min: Duration.Duration, max: Duration.Duration): Parse<Duration.Duration> => (text) => {
  const expected = `a duration from ${Duration.format(min)} to ${Duration.format(max)}, such as 250ms, 15s or 1m`
  return Result.match(duration(text), {
    onFailure: () => Result.fail(expected),
    onSuccess: (d) => Duration.between(d, { minimum: min, maximum: max }) ? Result.succeed(d) : Result.fail(expected)
  })
}
