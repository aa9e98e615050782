/**
 * The example kustomize overlay (`deploy/kustomize/overlays/example`): where it is and the objects it
 * makes, for the tests that render it (kubectl kustomize) and those that apply it (server-side dry run).
 */
import { fileURLToPath } from "node:url"

/** The overlay's folder. */
export const EXAMPLE_OVERLAY = fileURLToPath(new URL("../../kustomize/overlays/example", import.meta.url))

/** `kind/name` of every object the overlay makes, sorted: the base's five, each name prefixed `eu-`. */
export const EXAMPLE_OVERLAY_OBJECTS: ReadonlyArray<string> = [
  "Deployment/eu-miroir",
  "PodDisruptionBudget/eu-miroir",
  "Service/eu-miroir",
  "Service/eu-miroir-headless",
  "ServiceAccount/eu-miroir"
]

/** `kind/name` of each of `objects`, sorted, to compare with {@link EXAMPLE_OVERLAY_OBJECTS}. */
export const kindsAndNames = (
  objects: ReadonlyArray<{ readonly kind: string; readonly metadata: { readonly name: string } }>
): Array<string> => objects.map((object) => `${object.kind}/${object.metadata.name}`).sort()
