import { defineProject } from "vitest/config"

/**
 * The acceptance on real Kubernetes components, as a project of its own: it runs after every other
 * project (`groupOrder`, after the simulator's acceptance), alone on the machine's two cores, since a control plane, CoreDNS, Prometheus
 * and the pods competing with the other suites for the CPU would measure the machine, not discovery.
 * Its files (the acceptance, the real node's) run one after the other for the same reason.
 */
export default defineProject({
  ssr: { resolve: { conditions: ["@miroir/source", "node", "development|production"] } },
  test: {
    name: "cluster-sim-kube",
    // image.test.ts builds the pod service's image (buildah, root) as the real node will run it.
    include: ["test/kube/acceptance*.test.ts", "test/kube/image.test.ts"],
    sequence: { groupOrder: 2 },
    fileParallelism: false,
    testTimeout: 20 * 60_000,
    hookTimeout: 120_000
  }
})
