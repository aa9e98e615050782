/** A configuration value of the pod service that was malformed. */
import { Data } from "effect"

/** Names the variable, its value and what was expected, in one line. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly variable: string
  readonly value: string
  readonly expected: string
}> {
  override get message(): string {
    return `invalid configuration: ${this.variable}=${JSON.stringify(this.value)}: expected ${this.expected}`
  }
}
