/**
 * Bundles the pod service from its sources into one ES module with esbuild: what the container image
 * runs (`node miroir.mjs`, no node_modules), and what the cluster simulator starts its pods from. A pod
 * then starts in about 0.35 s of CPU, against 2.9 s through tsx's loader.
 *
 *   pnpm --filter @miroir/miroir bundle    → apps/miroir/dist/miroir.mjs
 */
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

/** The entry point of the pod service. */
const entryPoint = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** Bundles the pod service into `outFile`; returns it. */
export const bundle = async (outFile: string): Promise<string> => {
  await build({
    entryPoints: [entryPoint],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    conditions: ["@miroir/source"],
    outfile: outFile,
    sourcemap: "linked",
    logLevel: "warning",
    // Some dependencies are CommonJS and call require(); an ES module has none of its own.
    banner: {
      js:
        "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
    }
  })
  return outFile
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outFile = fileURLToPath(new URL("../dist/miroir.mjs", import.meta.url))
  await bundle(outFile)
  console.log(`bundled ${outFile}`)
}
