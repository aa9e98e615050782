/**
 * The code the READMEs show is the example's, verbatim: every TypeScript block right after a marker
 * `<!-- example: PATH -->` is the file at PATH (from the repository's root), so that what a reader copies
 * is what examples/test/example-app.test.ts type-checks and runs.
 */
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)))

/** The marked blocks of a Markdown text: the path each names and the code under it. */
const markedBlocks = (markdown: string) =>
  [...markdown.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```\n/g)].map(([, path, code]) => ({
    path: path!,
    code: code!
  }))

describe("the READMEs' examples", () => {
  for (
    const [readme, expected] of [
      ["README.md", [
        "examples/peer-discovery-app/src/App.ts",
        "examples/peer-discovery-app/test/ownership.test-resolver.test.ts"
      ]],
      ["packages/peer-discovery/README.md", [
        "examples/peer-discovery-app/src/App.ts",
        "examples/peer-discovery-app/test/ownership.test-resolver.test.ts"
      ]]
    ] as const
  ) {
    it(`${readme} shows the example's files verbatim`, async () => {
      const blocks = markedBlocks(await readFile(join(repo, readme), "utf8"))
      expect(blocks.map(({ path }) => path)).toEqual(expected)
      for (const { code, path } of blocks) {
        expect(code, `${readme}: the block marked ${path}`).toBe(await readFile(join(repo, path), "utf8"))
      }
    })
  }
})
