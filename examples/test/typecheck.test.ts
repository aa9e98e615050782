/**
 * examples/ is not a package of the workspace, so `pnpm typecheck` does not reach these tests: they are
 * type-checked here, with the workspace's settings (examples/tsconfig.json).
 */
import { execFile } from "node:child_process"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { expect, it } from "vitest"

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)))

it("the tests that drive the examples type-check", async () => {
  const result = await promisify(execFile)(
    process.execPath,
    [resolve(repo, "node_modules/typescript/bin/tsc"), "-p", "examples/tsconfig.json"],
    { cwd: repo }
  ).then(() => "ok", (error: { stdout?: string; message: string }) => error.stdout || error.message)
  expect(result).toBe("ok")
})
