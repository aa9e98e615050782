/**
 * The pure parts of `Image.build`: reading the build script's result line, naming the step a failed run
 * was at, and the error of a repository without the script (nothing is built here; image.test.ts builds).
 */
import { Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import * as Image from "../../src/kube/Image.js"

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`

describe("Image.build's result and errors", () => {
  it("reads reference, digest and archive from the script's last result line", () => {
    expect(
      Image.parseResult(
        `noise\nreference=localhost/miroir:0.1.0 digest=${DIGEST} archive=/cache/images/miroir-3ac30f4f.oci.tar\n`
      )
    ).toEqual({
      repository: "localhost/miroir",
      reference: "localhost/miroir:0.1.0",
      digest: DIGEST,
      archive: "/cache/images/miroir-3ac30f4f.oci.tar"
    })
    // A registry with a port: the tag is after the last colon that follows the last slash.
    expect(Image.parseResult(`reference=registry:5000/search/miroir:1 digest=${DIGEST} archive=/a`)?.repository)
      .toBe("registry:5000/search/miroir")
  })

  it("takes no line without a tag, with a malformed digest or a missing field", () => {
    expect(Image.parseResult("")).toBeUndefined()
    expect(Image.parseResult(`reference=registry:5000/miroir digest=${DIGEST} archive=/a`)).toBeUndefined()
    expect(Image.parseResult("reference=localhost/miroir:1 digest=sha256:abc archive=/a")).toBeUndefined()
    expect(Image.parseResult(`reference=localhost/miroir:1 digest=${DIGEST}`)).toBeUndefined()
  })

  it("names the step of a failed run: its last progress line, else its error line", () => {
    const stderr = [
      "base docker.io/library/node:24.22.3-bookworm-slim: present, nothing built",
      "image localhost/miroir:0.1.0: buildah build of /repo/Dockerfile (revision abc)",
      "STEP 5/9: RUN pnpm fetch",
      "error: buildah build of /repo/Dockerfile failed (the last lines of /cache/buildah/build.log above)"
    ].join("\n")
    expect(Image.failedStep(stderr)).toBe(
      "image localhost/miroir:0.1.0: buildah build of /repo/Dockerfile (revision abc)"
    )
    expect(Image.failedStep("error: scripts/build-image.sh needs root\n")).toBe(
      "error: scripts/build-image.sh needs root"
    )
    expect(Image.failedStep("")).toBe("scripts/build-image.sh")
  })

  it("fails with an ImageError that names the step when the repository has no build script", async () => {
    const exit = await Effect.runPromiseExit(Image.build({ repository: "/nonexistent-miroir-repository" }))
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    expect(error).toMatchObject({ error: { _tag: "ImageError", step: "starting scripts/build-image.sh" } })
  })
})
