/**
 * A query parameter that is a decimal integer within bounds, as the pod API's parameters are (`shards`,
 * `silentForMs`): digits only (no sign, exponent or fraction), and one message for every way a value can
 * be wrong, which a 400 quotes after the parameter's name and before the value received, never Schema's own
 * wording.
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"

/** The parameter's Schema: an integer from `minimum` to `maximum` (both ≥ 0), else `expected`. */
export const decimalInteger = (minimum: number, maximum: number, expected: string) => {
  const digits = new RegExp(`^\\d{1,${String(maximum).length + 1}}$`) // a leading zero allowed
  return Schema.String.pipe(
    Schema.decodeTo(
      Schema.Int.check(Schema.isBetween({ minimum, maximum })),
      SchemaTransformation.transformEffect({
        decode: (text, options) => {
          const value = digits.test(text) ? Number(text) : Number.NaN
          return value >= minimum && value <= maximum
            ? Effect.succeed(value)
            : Effect.fail(new SchemaIssue.InvalidValue({ message: expected }, text, options))
        },
        encode: (value) => Effect.succeed(String(value))
      })
    )
  ).annotate({ message: expected })
}
