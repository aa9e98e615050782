/**
 * The real upstream components the Kubernetes cluster runs, as `scripts/install-test-deps.sh` builds
 * them from their Go modules into its cache (`$MIROIR_TEST_DEPS_CACHE`, default
 * `~/.cache/miroir-test-deps`): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, CoreDNS,
 * Helm 4 (`helm`, the Helm of every test and of the cluster), Helm 3 (`helm3`, which the deploy tests
 * run beside Helm 4 while Helm 3 gets security fixes) and kube-state-metrics; and the real node's:
 * kubelet, kube-proxy, containerd (with ctr and containerd-shim-runc-v2), runc, the pause binary and agnhost, with the
 * node's images built from them (`images/`, see {@link images}). Nothing here builds them; a missing one is
 * an error that says how to get it.
 */
import { accessSync, constants, readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

/** The components, by the name of their executable. */
export const names = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kube-proxy",
  "kubectl",
  "coredns",
  "helm",
  "helm3",
  "kube-state-metrics",
  "kubelet",
  "containerd",
  "ctr",
  "containerd-shim-runc-v2",
  "runc",
  "pause",
  "agnhost"
] as const

/** One of {@link names}. */
export type Name = (typeof names)[number]

const cacheFolder = (): string => process.env.MIROIR_TEST_DEPS_CACHE ?? join(homedir(), ".cache", "miroir-test-deps")

/** Where the install script puts the executables. */
export const binFolder = (): string => join(cacheFolder(), "bin")

/** An image of the node, as the install script built it with buildah: its OCI archive and its name. */
export interface Image {
  readonly archive: string
  /** `localhost/miroir-test/NAME:VERSION`, the name it has once imported. */
  readonly ref: string
}

/**
 * The node's images (`pause`, the sandbox image, and `agnhost`, the e2e tests' image), from the install
 * script's `images/images.txt`; throws, naming the fix, when they were not built.
 */
export const images = (): { readonly pause: Image; readonly agnhost: Image } => {
  const folder = join(cacheFolder(), "images")
  let refs: Record<string, string>
  try {
    refs = Object.fromEntries(
      readFileSync(join(folder, "images.txt"), "utf8").split("\n").map((line) => line.split("\t")).filter((f) =>
        f.length === 2
      )
    )
  } catch {
    throw new Error(`the node's images are not built in ${folder}: run scripts/install-test-deps.sh`)
  }
  const image = (name: "pause" | "agnhost"): Image => {
    const ref = refs[name]
    const archive = join(folder, `${name}.oci.tar`)
    try {
      accessSync(archive, constants.R_OK)
    } catch {
      throw new Error(`${archive} is missing: run scripts/install-test-deps.sh`)
    }
    if (ref === undefined) {
      throw new Error(`${join(folder, "images.txt")} names no ${name} image: run scripts/install-test-deps.sh`)
    }
    return { archive, ref }
  }
  return { pause: image("pause"), agnhost: image("agnhost") }
}

/**
 * The text of an upstream file the install script copied from the k8s.io/kubernetes module: kubeadm's
 * `manifests.go` (its CoreDNS ConfigMap) or NodeLocal DNSCache's `nodelocaldns.yaml`; throws, naming the
 * fix, when it is not there.
 */
export const upstreamFile = (name: "manifests.go" | "nodelocaldns.yaml"): string => {
  const file = join(cacheFolder(), "upstream", name)
  try {
    return readFileSync(file, "utf8")
  } catch {
    throw new Error(`${file} is missing: run scripts/install-test-deps.sh (it copies it from k8s.io/kubernetes)`)
  }
}

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
