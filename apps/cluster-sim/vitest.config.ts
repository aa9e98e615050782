import { defineProject } from "vitest/config"

export default defineProject({
  // Workspace packages are imported from their TypeScript sources (the "@miroir/source" export condition);
  // the rest are Vite's default server conditions but "module", whose ESM builds of @opentelemetry/api
  // Node cannot load (extension-less imports).
  ssr: { resolve: { conditions: ["@miroir/source", "node", "development|production"] } },
  test: {
    name: "cluster-sim",
    include: ["test/**/*.test.ts"],
    // The acceptance suites are projects of their own, run after this one: the simulator's
    // (vitest.acceptance.config.ts), then the real-Kubernetes one (vitest.kube.config.ts).
    exclude: ["test/acceptance.test.ts", "test/kube/acceptance*.test.ts", "test/kube/image.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
