/**
 * A configuration value that is missing or malformed. Shared by every configuration of Miroir (the
 * library's and the pod service's), so that a bad value always reads the same way: one line naming
 * the variable, the value, and what was expected.
 */
import { Data } from "effect"

/** Names the variable, its value and what was expected. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly variable: string
  readonly value: string
  readonly expected: string
}> {
  override get message(): string {
    return `invalid configuration: ${this.variable}=${JSON.stringify(this.value)}: expected ${this.expected}`
  }
}
