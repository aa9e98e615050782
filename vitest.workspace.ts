// Every package and app with a vitest.config.ts is a project of the workspace; the acceptance on real
// Kubernetes components (apps/cluster-sim/vitest.kube.config.ts) is one more, run after all the others.
export default [
  "packages/*/vitest.config.ts",
  "apps/*/vitest.config.ts",
  "deploy/vitest.config.ts",
  "apps/cluster-sim/vitest.kube.config.ts"
]
