/**
 * The library as a package: `pnpm pack` of @miroir/peer-discovery (scripts/pack-library.sh), checked with
 * publint and attw, installed with npm into a fresh copy of examples/peer-discovery-app outside the
 * workspace, type-checked there with the example's TypeScript, and the example's three tests run there with
 * its own vitest: the layer provided to the app against unbound, the test resolver on the TestClock, and the
 * metrics exported over OTLP.
 *
 * Nothing leaves the machine: npm installs with `npm ci --offline` from the cache that
 * scripts/cache-example-deps.sh filled (scripts/install-test-deps.sh runs it), with its proxies pointed at a
 * closed loopback port besides; the example's tests talk to unbound and an OTLP receiver on 127.0.0.1.
 */
import { execFile } from "node:child_process"
import { cp, mkdtemp, readFile, rm } from "node:fs/promises"
import { homedir, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)))
const example = join(repo, "examples/peer-discovery-app")
const npmCache = join(process.env.MIROIR_TEST_DEPS_CACHE ?? join(homedir(), ".cache/miroir-test-deps"), "npm")

/** What a command printed and how it ended; a failure is an answer here, asserted on by the test. */
interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * This process's environment without what the test runner and pnpm put there for themselves (vitest's
 * `VITEST*`, pnpm's lower-case `npm_*`), which would otherwise steer the npm and vitest started here.
 */
const cleanEnvironment = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && !key.startsWith("npm_"))
  )

/** Runs `command` in `cwd` (its own process, ended by its pid if it outlives 9 minutes). */
const run = async (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv = cleanEnvironment()
): Promise<Run> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, [...args], {
      cwd,
      env,
      timeout: 540_000,
      maxBuffer: 64 * 1024 * 1024
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string }
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: `${failed.stderr ?? ""}\n${failed.message}`
    }
  }
}

/** Fails with the command's output when it did not exit 0. */
const succeeded = (what: string, result: Run): Run => {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`)
  }
  return result
}

describe("the example application on the packed library", () => {
  let work: string
  let app: string
  let tarball: string

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "miroir-example-"))
    app = join(work, "app")
    // The example as its user has it: its files, no node_modules, no tarball of an earlier run.
    await cp(example, app, {
      recursive: true,
      filter: (source) => !source.includes("/node_modules") && !source.endsWith(".tgz")
    })
    // Packed straight into the app's folder, where its package.json expects it (file:<tarball>).
    const packed = succeeded(
      "scripts/pack-library.sh",
      await run("bash", [join(repo, "scripts/pack-library.sh"), "--no-check", app], repo)
    )
    tarball = packed.stdout.trim().split("\n").at(-1)!
  })

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it("packs ESM JavaScript, declarations, README and LICENSE, and no tests", async () => {
    const files = succeeded("tar", await run("tar", ["-tzf", tarball], work)).stdout.trim().split("\n")
      .map((file) => file.replace(/^package\//, ""))
    expect(files).toEqual(expect.arrayContaining(["package.json", "README.md", "LICENSE"]))
    expect(files).toEqual(expect.arrayContaining(["dist/index.js", "dist/index.d.ts"]))
    // Every module of src/ is built, its JavaScript with its declarations.
    const modules = files.filter((file) => /^src\/.*\.ts$/.test(file)).map((file) => file.slice(4, -3))
    expect(modules.length).toBeGreaterThan(10)
    for (const module of modules) {
      expect(files).toContain(`dist/${module}.js`)
      expect(files).toContain(`dist/${module}.d.ts`)
    }
    expect(files.filter((file) => /(^|\/)(test|tests|__tests__)\/|\.(test|spec)\.[cm]?[jt]s$/.test(file))).toEqual([])
    expect(files.filter((file) => !/^(dist|src)\//.test(file)).sort()).toEqual(["LICENSE", "README.md", "package.json"])

    const manifest = JSON.parse(
      succeeded("tar", await run("tar", ["-xzOf", tarball, "package/package.json"], work)).stdout
    )
    expect(manifest.type).toBe("module")
    // Published without the workspace's source condition, and without a workspace: range.
    expect(manifest.exports["."]).toEqual({ types: "./dist/index.d.ts", default: "./dist/index.js" })
    expect(JSON.stringify(manifest)).not.toContain("workspace:")
    expect(JSON.stringify(manifest)).not.toContain("@miroir/source")
    // One Effect for the app and the library: the app's.
    expect(manifest.peerDependencies).toEqual({ effect: expect.stringMatching(/^\^4\./) })
    expect(manifest.dependencies?.effect).toBeUndefined()
    expect(manifest.scripts?.prepack).toBeUndefined()
  })

  it("passes publint and attw", async () => {
    const publint = succeeded(
      "publint",
      await run(join(repo, "node_modules/.bin/publint"), ["run", tarball, "--strict"], work)
    )
    expect(publint.stdout).toContain("All good!")
    // ESM only, like effect 4: node10 and require() from CommonJS are not checked (the esm-only profile).
    const attw = succeeded(
      "attw",
      await run(
        join(repo, "node_modules/.bin/attw"),
        [tarball, "--profile", "esm-only", "--format", "json"],
        work
      )
    )
    const { analysis } = JSON.parse(attw.stdout) as {
      analysis: { problems: ReadonlyArray<{ kind: string; entrypoint: string; resolutionKind?: string }> }
    }
    const ignored = new Set(["node10", "node16-cjs"])
    expect(analysis.problems.filter((problem) => !ignored.has(problem.resolutionKind ?? ""))).toEqual([])
  })

  it("installs the tarball with npm, offline, sharing the app's one copy of effect", async () => {
    const env = {
      ...cleanEnvironment(),
      npm_config_cache: npmCache,
      // Belt and braces: --offline asks no registry, and nothing could get past a closed loopback port.
      npm_config_proxy: "http://127.0.0.1:9",
      npm_config_https_proxy: "http://127.0.0.1:9",
      npm_config_update_notifier: "false"
    }
    const install = await run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], app, env)
    if (install.code !== 0 && /ENOTCACHED/.test(install.stderr + install.stdout)) {
      throw new Error(
        `npm's cache ${npmCache} lacks packages of ${example}/package-lock.json: run \`bash scripts/install-test-deps.sh\` (or scripts/cache-example-deps.sh)\n${install.stderr}`
      )
    }
    succeeded("npm ci --offline", install)
    const installed = JSON.parse(
      await readFile(join(app, "node_modules/@miroir/peer-discovery/package.json"), "utf8")
    )
    const packed = JSON.parse(await readFile(join(repo, "packages/peer-discovery/package.json"), "utf8"))
    expect(installed.version).toBe(packed.version)
    // The lock knows the library's dependencies: if they changed, scripts/update-example-lock.sh.
    const lock = JSON.parse(await readFile(join(app, "package-lock.json"), "utf8"))
    expect({
      dependencies: lock.packages["node_modules/@miroir/peer-discovery"].dependencies,
      peerDependencies: lock.packages["node_modules/@miroir/peer-discovery"].peerDependencies
    }).toEqual({ dependencies: packed.dependencies, peerDependencies: packed.peerDependencies })

    const tree = JSON.parse(succeeded("npm ls", await run("npm", ["ls", "effect", "--all", "--json"], app, env)).stdout)
    const copies = new Set<string>()
    interface Node {
      readonly version?: string
      readonly dependencies?: Record<string, Node>
    }
    const walk = (node: Node) => {
      for (const [name, child] of Object.entries(node.dependencies ?? {})) {
        if (name === "effect" && child.version !== undefined) copies.add(child.version)
        walk(child)
      }
    }
    walk(tree)
    expect([...copies]).toEqual(["4.1.5"])
  })

  it("type-checks strictly against effect 4", async () => {
    const tsconfig = await readFile(join(app, "tsconfig.json"), "utf8")
    expect(tsconfig).toMatch(/"strict": true/)
    succeeded("tsc --noEmit", await run(process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit"], app))
  })

  it("runs the three uses, each a test, and all pass", async () => {
    const result = await run(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", "--reporter=json", "--outputFile=results.json"],
      app
    )
    const report = JSON.parse(await readFile(join(app, "results.json"), "utf8").catch(() => "{}"))
    succeeded("the example's vitest", result)
    const tests = (report.testResults ?? []).flatMap((file: { assertionResults: ReadonlyArray<unknown> }) =>
      file.assertionResults
    ) as ReadonlyArray<{ fullName: string; status: string }>
    expect(tests.map(({ fullName, status }) => [fullName, status]).sort()).toEqual([
      ["the application against unbound sees its peers and owns its shards", "passed"],
      [
        "the application over the test resolver takes its share of the shards one refresh interval after DNS lists its peers",
        "passed"
      ],
      ["the application's metrics over OTLP exports miroir_peer_pod_count to the collector", "passed"]
    ])
    expect(report.numPendingTests).toBe(0)
    expect(report.numTodoTests).toBe(0)
  })
})
