/**
 * Reading one environment variable with effect's `Config` and explaining a bad value — the one way every
 * configuration of Miroir (the library's, the pod service's, telemetry's) reads its settings.
 *
 * A variable is a `Config` ({@link variable}) whose text a {@link Parse} function turns into a value or
 * into the sentence saying what was expected. Such `Config`s compose as any others (`Config.all`,
 * `Config.withDefault`, `Config.option`, `Config.mapOrFail` with {@link invalid} for checks that span
 * variables), and {@link load} runs one against the current `ConfigProvider` (the environment, unless
 * a test swaps it with `ConfigProvider.fromMap`), failing with a {@link ConfigError} that names the
 * variable, the value and what was expected.
 *
 * Every configuration module has the same shape: `Settings` (the validated values), `config` (the
 * `Config` that reads them), `load` (`config` loaded with {@link load}) and, when services read the
 * settings from the context, a `Context.Tag` of the same name with its `layer`.
 */
import { Config, ConfigError as EffectConfigError, Duration, Either, Effect, Option } from "effect"
import { ConfigError } from "./ConfigError.js"

/** A value parsed from its text, or the sentence saying what the text should have been (`an integer from 1 to 64`). */
export type Parse<A> = (text: string) => Either.Either<A, string>

/** How {@link variable} reads a value. */
export interface Options {
  /** The text taken when the variable is unset, parsed (and refused) like any value. */
  readonly default?: string
  /**
   * Surrounding blanks are ignored and a blank value counts as unset (so that `Config.withDefault`
   * applies), as for the pod service's variables. Off by default: the library's variables are taken as
   * written, and a set but empty value is refused like any other.
   */
  readonly trimmed?: boolean
}

/**
 * An invalid value of `variable` (for `Config.mapOrFail`, e.g. a check between two variables): {@link load}
 * turns it into a {@link ConfigError} naming `variable`, `value` and `expected`.
 */
export const invalid = (variable: string, value: string, expected: string): EffectConfigError.ConfigError =>
  // The message carries all three: the error's path is not always the variable's (a default's error has none).
  EffectConfigError.InvalidData([variable], JSON.stringify({ variable, value, expected }))

/**
 * The environment variable `name`, its text parsed by `parse`. A bad value fails the `Config` with an
 * error that {@link load} reports as `invalid configuration: NAME="value": expected …`; an unset one
 * fails as missing, so `Config.withDefault` and `Config.option` apply to it as usual.
 */
export const variable = <A>(name: string, parse: Parse<A>, options: Options = {}): Config.Config<A> =>
  (options.default === undefined ? Config.string(name) : Config.withDefault(Config.string(name), options.default)).pipe(
    Config.mapOrFail((raw) => {
      const text = options.trimmed ? raw.trim() : raw
      if (options.trimmed && text === "") return Either.left(EffectConfigError.MissingData([name], `${name} is blank`))
      return Either.mapLeft(parse(text), (expected) => invalid(name, raw, expected))
    })
  )

/** The first invalid value in `error` (effect accumulates the errors of `Config.all`), else the error as it reads. */
const fromEffectError = (error: EffectConfigError.ConfigError): ConfigError => {
  const first = (e: EffectConfigError.ConfigError): Option.Option<EffectConfigError.ConfigError> => {
    switch (e._op) {
      case "And":
      case "Or":
        return Option.orElse(first(e.left), () => first(e.right))
      case "InvalidData":
        return Option.some(e)
      default:
        return Option.none()
    }
  }
  return Option.match(first(error), {
    onNone: () => new ConfigError({ variable: "(environment)", value: "", expected: String(error) }),
    onSome: (invalidData) => {
      const { message, path } = invalidData as EffectConfigError.InvalidData
      try {
        const { expected, value, variable } = JSON.parse(message) as Record<string, unknown>
        if (typeof variable === "string" && typeof value === "string" && typeof expected === "string") {
          return new ConfigError({ variable, value, expected })
        }
      } catch {
        // not one of ours: an invalid value effect's own Config reported
      }
      return new ConfigError({ variable: path.join("_"), value: "", expected: message })
    }
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
    ? Either.right(word as Word)
    : Either.left(`one of ${words.map((w) => `"${w}"`).join(", ")}`)
}

/** An integer from `min` to `max`, written in decimal digits. */
export const integer = (min: number, max: number): Parse<number> => (text) => {
  const number = Number(text)
  return /^-?\d+$/.test(text) && number >= min && number <= max
    ? Either.right(number)
    : Either.left(`an integer from ${min} to ${max}`)
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
    ? Option.some(Duration.decode(`${Number(short[1])} ${SHORT_UNITS[short[2] as keyof typeof SHORT_UNITS]}`))
    : Duration.decodeUnknown(trimmed)
  return Option.match(decoded, {
    onNone: () => Either.left(expected),
    onSome: (d) =>
      Duration.isFinite(d) && Duration.greaterThan(d, Duration.zero) ? Either.right(d) : Either.left(expected)
  })
}

/**
 * A duration as {@link duration} reads it, from `min` to `max` inclusive; the error names the range.
 * Bounds keep a setting where it makes sense and where a timer can be set at all (Node's timers hold at
 * most 2^31-1 ms, about 24.8 days).
 */
export const durationBetween = (min: Duration.Duration, max: Duration.Duration): Parse<Duration.Duration> => (text) => {
  const expected = `a duration from ${Duration.format(min)} to ${Duration.format(max)}, such as 250ms, 15s or 1m`
  return Either.match(duration(text), {
    onLeft: () => Either.left(expected),
    onRight: (d) => Duration.between(d, { minimum: min, maximum: max }) ? Either.right(d) : Either.left(expected)
  })
}
