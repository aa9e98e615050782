/**
 * A command of a container (its `command`/`args`, or an `exec` handler's `command`) turned into one this
 * machine can run, as the process kubelet stands programs in for images: the image's executable (`node`)
 * becomes the program's (this machine's node), and every argument that names a file of the image
 * (`/app/miroir.mjs`) the local file that stands in for it (the bundle). Only the image's own executable
 * can run: there is no image filesystem to find any other in.
 */
import { Result } from "effect"

/** How a program stands in for an image (ProcessKubelet's `Program`). */
export interface StandIn {
  /** The executable that runs (for a Node image, this machine's node). */
  readonly command: string
  /** The image's files by their path in the image, and the local files that stand in for them. */
  readonly files?: Readonly<Record<string, string>> | undefined
}

/** The image's executable, by the name a container's command gives it. */
export const EXECUTABLE = "node"

/** A command this machine runs. */
export interface Resolved {
  readonly command: string
  readonly args: ReadonlyArray<string>
}

/**
 * `argv` (the image's executable, then its arguments) as this machine runs it; why not, when its first
 * word is not the image's executable.
 */
export const resolve = (standIn: StandIn, argv: ReadonlyArray<string>): Result.Result<Resolved, string> => {
  const [executable, ...args] = argv
  if (executable !== EXECUTABLE) {
    return Result.fail(`the process kubelet runs ${EXECUTABLE} commands only, not ${executable ?? "an empty command"}`)
  }
  return Result.succeed({ command: standIn.command, args: args.map((arg) => standIn.files?.[arg] ?? arg) })
}
