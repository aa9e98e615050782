import { defineProject } from "vitest/config"

export default defineProject({
  resolve: { conditions: ["@miroir/source"] },
  test: {
    name: "miroir",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
