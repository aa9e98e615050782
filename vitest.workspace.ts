// Every package and app with a vitest.config.ts is a project of the workspace.
export default ["packages/*/vitest.config.ts", "apps/*/vitest.config.ts", "deploy/vitest.config.ts"]
