import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starting unbound and a first lookup take well under a second; the margin is for a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
