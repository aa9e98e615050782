/** Whether this machine can run the real node the Kubernetes benchmarks measure on. */
import * as Components from "@miroir/cluster-sim/kube/Components"
import * as KubeCluster from "@miroir/cluster-sim/kube/KubeCluster"

/**
 * Why the real node cannot run here (its components are not built, or the process is not root), for a
 * benchmark to report as skipped; undefined when it can.
 */
export const whyNoRealNode = (): string | undefined => {
  const missing = Components.missing(KubeCluster.COMPONENTS)
  if (missing.length > 0) {
    return `${missing.join(", ")} missing in ${Components.binFolder()}: run scripts/install-test-deps.sh`
  }
  if (process.getuid?.() !== 0) return "a real node needs root (bridges, routes, mounts, cgroups)"
  return undefined
}
