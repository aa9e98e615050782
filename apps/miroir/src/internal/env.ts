/** Reading one environment variable through effect's Config, and parsing it with a clear error. */
import { ConfigError } from "@miroir/peer-discovery"
import { Config, Effect, Either, Option } from "effect"

/** The raw value of `variable`, or undefined when unset or blank. */
export const raw = (variable: string): Effect.Effect<string | undefined> =>
  Config.string(variable).pipe(
    Config.option,
    Effect.map(Option.filter((value) => value.trim() !== "")),
    Effect.map(Option.getOrUndefined),
    Effect.orDie
  )

/**
 * `variable` parsed by `parse` (a value, or the sentence saying what was expected); `fallback` when
 * unset. Fails with a {@link ConfigError.ConfigError} naming the variable and the value.
 */
export const variable = <A>(
  name: string,
  fallback: A,
  parse: (value: string) => Either.Either<A, string>
): Effect.Effect<A, ConfigError.ConfigError> =>
  Effect.flatMap(raw(name), (value) =>
    value === undefined
      ? Effect.succeed(fallback)
      : Either.match(parse(value.trim()), {
        onLeft: (expected) => Effect.fail(new ConfigError.ConfigError({ variable: name, value, expected })),
        onRight: Effect.succeed
      }))

/** An integer from `min` to `max`. */
export const integer = (min: number, max: number) => (value: string): Either.Either<number, string> => {
  const number = Number(value)
  return /^-?\d+$/.test(value) && number >= min && number <= max
    ? Either.right(number)
    : Either.left(`an integer from ${min} to ${max}`)
}

/** One of the given words, case-insensitive. */
export const oneOf = <const Word extends string>(words: ReadonlyArray<Word>) =>
(value: string): Either.Either<Word, string> => {
  const word = value.toLowerCase()
  return (words as ReadonlyArray<string>).includes(word)
    ? Either.right(word as Word)
    : Either.left(`one of ${words.map((w) => `"${w}"`).join(", ")}`)
}
