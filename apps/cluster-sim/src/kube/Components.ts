/**
 * The real upstream components the Kubernetes cluster runs, as `scripts/install-test-deps.sh` builds
 * them from their Go modules into its cache (`$MIROIR_TEST_DEPS_CACHE`, default
 * `~/.cache/miroir-test-deps`): etcd, kube-apiserver, kube-controller-manager, kubectl, CoreDNS,
 * Helm 4 (`helm`, the Helm of every test and of the cluster), Helm 3 (`helm3`, which the deploy tests
 * run beside Helm 4 while Helm 3 gets security fixes) and kube-state-metrics. Nothing here builds them;
 * a missing one is an error that says how to get it.
 */
import { accessSync, constants, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

/** The components, by the name of their executable. */
export const names = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kubectl",
  "coredns",
  "helm",
  "helm3",
  "kube-state-metrics"
] as const

/** One of {@link names}. */
export type Name = (typeof names)[number]

/** Where the install script puts the executables. */
export const binFolder = (): string =>
  join(process.env.MIROIR_TEST_DEPS_CACHE ?? join(homedir(), ".cache", "miroir-test-deps"), "bin")

/** The missing components among `wanted` (default: all), none when they are built. */
export const missing = (wanted: ReadonlyArray<Name> = names): ReadonlyArray<Name> =>
  wanted.filter((name) => {
    try {
      accessSync(join(binFolder(), name), constants.X_OK)
      return false
    } catch {
      return true
    }
  })

/** The path of a component's executable; throws, naming the fix, when it was not built. */
export const path = (name: Name): string => {
  const file = join(binFolder(), name)
  try {
    accessSync(file, constants.X_OK)
  } catch {
    throw new Error(
      `${name} is not built in ${binFolder()}: run scripts/install-test-deps.sh (it builds the real components from their Go modules)`
    )
  }
  return file
}

/** The versions the install script recorded (`component version` lines), for reports. */
export const versions = (): Readonly<Record<string, string>> => {
  try {
    return Object.fromEntries(
      readFileSync(join(binFolder(), "versions.txt"), "utf8")
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .filter((fields): fields is [string, string] => fields.length >= 2)
        .map(([name, version]) => [name, version])
    )
  } catch {
    return {}
  }
}
