import { defineProject } from "vitest/config"

/**
 * The simulator's acceptance suite, as a project of its own: it runs after the unit and integration
 * suites (`groupOrder`), so that its 50 pods get the machine's two cores to themselves instead of
 * sharing them with the other suites' pod processes, API servers and DNS servers — which measured the
 * machine, not discovery. The real-Kubernetes acceptance (vitest.kube.config.ts) runs after it.
 */
export default defineProject({
  ssr: { resolve: { conditions: ["@miroir/source", "node", "development|production"] } },
  test: {
    name: "cluster-sim-acceptance",
    include: ["test/acceptance.test.ts"],
    sequence: { groupOrder: 1 },
    testTimeout: 300_000,
    hookTimeout: 60_000
  }
})
