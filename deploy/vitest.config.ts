import { defineProject } from "vitest/config"

export default defineProject({
  // Workspace packages are imported from their TypeScript sources (the "@miroir/source" export condition);
  // the rest are Vite's default server conditions but "module", whose ESM builds of @opentelemetry/api
  // Node cannot load (extension-less imports).
  ssr: { resolve: { conditions: ["@miroir/source", "node", "development|production"] } },
  test: {
    name: "deploy",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
