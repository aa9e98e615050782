import { defineProject } from "vitest/config"

export default defineProject({
  resolve: { conditions: ["@miroir/source"] },
  test: {
    name: "pod-api",
    include: ["test/**/*.test.ts"]
  }
})
