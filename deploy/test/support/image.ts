/**
 * What the Dockerfile says of the image the packaging runs: its entrypoint (`node /app/miroir.mjs`), which
 * the preStop exec must start the same way (the pod's own program, its leave command).
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const DOCKERFILE = fileURLToPath(new URL("../../../Dockerfile", import.meta.url))

/** The image's ENTRYPOINT, in its exec form (`["node", "/app/miroir.mjs"]`). */
export const entrypoint = (): ReadonlyArray<string> => {
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(DOCKERFILE, "utf8"))?.[1]
  if (line === undefined) throw new Error(`no ENTRYPOINT [...] in ${DOCKERFILE}`)
  return JSON.parse(line) as Array<string>
}
