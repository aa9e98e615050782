import { defineProject } from "vitest/config"

export default defineProject({
  resolve: { conditions: ["@miroir/source"] },
  test: {
    name: "peer-discovery",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
