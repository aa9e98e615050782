import { defineConfig } from "vitest/config"
import projects from "./vitest.workspace.js"

// vitest 5 reads its projects from `test.projects` of this root config only (it no longer reads
// vitest.workspace.ts by itself): vitest.workspace.ts stays the one list of the test projects, read here.
// Each project's name, `groupOrder` and resolve conditions are in its own config file.
export default defineConfig({
  test: {
    projects: [...projects]
  }
})
