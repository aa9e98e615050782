import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "process-kit",
    include: ["test/**/*.test.ts"]
  }
})
