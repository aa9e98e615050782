/**
 * The images of a real node, imported into its containerd from OCI archives (nothing is pulled), and named
 * by digest where a pod names them so; then checked to be there, so that a pod never waits on an image the
 * node does not have.
 */
import { Effect } from "effect"
import type * as Components from "../Components.js"
import type { Ctr } from "./containerd.js"
import { failedAt, NodeError } from "./nodeError.js"

/** An image to import: its archive, the name it has, and the digest a pod may name it by. */
export interface ExtraImage extends Components.Image {
  /**
   * `sha256:…` of its manifest: the image is also named `<repository>@<digest>`. The CRI plugin finds an
   * image by digest only through such a name, which it makes itself for images it pulls, but not for
   * images `ctr images import` loads (seen here: `ErrImageNeverPull` for `repo@sha256:…` of an imported image).
   */
  readonly digest?: string
}

/** `repository` of `repository:tag` (a registry's port is no tag). */
const repositoryOf = (ref: string): string => {
  const colon = ref.lastIndexOf(":")
  return colon > ref.lastIndexOf("/") ? ref.slice(0, colon) : ref
}

/**
 * Imports `images` with `ctr` (the node's, in the CRI's namespace), names each one of them that has a
 * digest `<repository>@<digest>` too, and fails unless containerd lists every one afterwards.
 */
export const importImages = (
  ctr: Ctr,
  images: ReadonlyArray<ExtraImage>
): Effect.Effect<void, NodeError> =>
  Effect.gen(function*() {
    for (const image of images) {
      yield* ctr(["images", "import", image.archive]).pipe(Effect.mapError(failedAt(`import of ${image.archive}`)))
    }
    for (const image of images) {
      if (image.digest === undefined) continue
      yield* ctr(["images", "tag", "--force", image.ref, `${repositoryOf(image.ref)}@${image.digest}`]).pipe(
        Effect.mapError(failedAt(`naming ${image.ref} by its digest ${image.digest}`))
      )
    }
    const present = yield* ctr(["images", "list", "--quiet"]).pipe(Effect.mapError(failedAt("images")))
    for (const image of images) {
      if (!present.split("\n").includes(image.ref)) {
        return yield* new NodeError({
          step: "images",
          reason: `${image.ref} is not among containerd's images after the import:\n${present}`
        })
      }
    }
  })
