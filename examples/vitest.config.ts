import { defineProject } from "vitest/config"

// The examples as their users get them: each is copied out of the repository, installs the packed library
// with npm and runs its own tests with its own vitest (examples/test/example-app.test.ts). The examples'
// own test files are not part of this project: they import the library from the tarball, which is only
// installed in the copy.
export default defineProject({
  test: {
    name: "examples",
    include: ["test/**/*.test.ts"],
    // Packing builds the library; npm installs about 50 packages from its cache; the example's vitest
    // starts unbound. About half a minute in all on two idle cores: the bounds are for a loaded machine.
    testTimeout: 600_000,
    hookTimeout: 600_000
  }
})
