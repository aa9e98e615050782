/**
 * Finding a server a test runs (unbound, Prometheus, promtool) on this machine, with a hint at how to
 * install it when it is missing: a clear failure rather than ENOENT from the spawn.
 */
import { accessSync, constants } from "node:fs"

/** The path of an executable, looked up in PATH and the sbin folders (Debian puts servers there). */
export const findExecutable = (name: string, installHint: string): string => {
  const folders = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"]
  for (const folder of folders.filter((f) => f.length > 0)) {
    try {
      accessSync(`${folder}/${name}`, constants.X_OK)
      return `${folder}/${name}`
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${name} is not installed: ${installHint}`)
}
