// Prints, one a line, every package@version of an npm package-lock.json (v3) that npm would install on this
// machine: registry packages only (not the file: tarball of the library, not links), and of the optional
// platform packages (esbuild's, rolldown's, lightningcss's...) only those for this OS, CPU and C library.
//
//   node scripts/example-lock-packages.mjs examples/peer-discovery-app/package-lock.json
import { readFileSync } from "node:fs"
import process from "node:process"

const lock = JSON.parse(readFileSync(process.argv[2], "utf8"))
const libc = process.platform === "linux"
  ? (process.report.getReport().header.glibcVersionRuntime === undefined ? "musl" : "glibc")
  : undefined
/** npm's own rule: a list allows a value unless it omits it, and `!value` excludes it. */
const allows = (list, value) =>
  list === undefined || (!list.includes(`!${value}`) &&
    (list.every((entry) => entry.startsWith("!")) || list.includes(value)))

const packages = []
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (!path.startsWith("node_modules/") || entry.link === true) continue
  if (entry.resolved !== undefined && !/^https?:/.test(entry.resolved)) continue
  if (!allows(entry.os, process.platform) || !allows(entry.cpu, process.arch)) continue
  if (entry.libc !== undefined && (libc === undefined || !allows(entry.libc, libc))) continue
  const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length)
  packages.push(`${name}@${entry.version}`)
}
process.stdout.write(packages.map((spec) => `${spec}\n`).join(""))
