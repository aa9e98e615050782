/**
 * The one error of a real node's set-up, in a file of its own so that Node.ts and the parts of the node in
 * this folder share it without importing each other.
 */
import { Data } from "effect"

/** Something of the node could not be set up; `step` says which, `reason` what went wrong (logs included). */
export class NodeError extends Data.TaggedError("NodeError")<{ readonly step: string; readonly reason: string }> {
  override get message(): string {
    return `real node, ${this.step}: ${this.reason}`
  }
}

/** Turns any error into a {@link NodeError} of `step`, keeping its message as the reason. */
export const failedAt = (step: string) => (error: { readonly message: string }): NodeError =>
  new NodeError({ step, reason: error.message })
