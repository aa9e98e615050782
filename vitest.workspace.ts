// Every package and app with a vitest.config.ts is a project of the workspace. The acceptance suites are
// projects of their own, run after all the others and one after the other (their `groupOrder`): the
// simulator's (apps/cluster-sim/vitest.acceptance.config.ts), then the real Kubernetes components'
// (apps/cluster-sim/vitest.kube.config.ts).
export default [
  "packages/*/vitest.config.ts",
  "apps/*/vitest.config.ts",
  "deploy/vitest.config.ts",
  // The example application, installed from the packed library outside the workspace (examples/test).
  "examples/vitest.config.ts",
  "apps/cluster-sim/vitest.acceptance.config.ts",
  "apps/cluster-sim/vitest.kube.config.ts"
]
