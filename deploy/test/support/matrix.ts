/**
 * The value sets the chart is linted and rendered with: each a values file of charts/miroir/tests/good
 * (or none), the release it is rendered as, and what it must produce.
 */
import { chartFile, MONITORING_API } from "./helm.js"

/** One rendering of the chart. */
export interface Case {
  /** Test name. */
  readonly name: string
  readonly release: string
  readonly namespace: string
  /** Files under charts/miroir/tests/good, applied in order over values.yaml. */
  readonly valuesFiles: ReadonlyArray<string>
  /** API versions announced to Helm (`--api-versions`). */
  readonly apiVersions: ReadonlyArray<string>
  /** The kinds it renders, sorted, one entry an object. */
  readonly kinds: ReadonlyArray<string>
  /** The expected MIROIR_PEER_DISCOVERY_RECORD. */
  readonly record: "srv" | "a"
}

/** What every render has: the workload, its two Services, its ServiceAccount and the `helm test` pod. */
const CORE = ["Deployment", "Service", "Service", "ServiceAccount", "Pod"]
/** The budget comes with more than one replica (the default 3). */
const CORE_PDB = [...CORE, "PodDisruptionBudget"]
const sorted = (kinds: ReadonlyArray<string>) => [...kinds].sort()

/**
 * The longest release name Helm accepts (53 characters: it refuses longer ones, see the chart tests),
 * so that `<release>-miroir` is 60 characters and the headless Service's name must be cut to fit 63.
 */
export const LONGEST_RELEASE = "search-cluster-of-the-example-company-production-eu-w"

/** The matrix. */
export const cases: ReadonlyArray<Case> = [
  {
    name: "defaults",
    release: "miroir",
    namespace: "search",
    valuesFiles: [],
    apiVersions: [],
    kinds: sorted(CORE_PDB),
    record: "srv"
  },
  {
    name: "production",
    release: "search",
    namespace: "search",
    valuesFiles: ["production.yaml"],
    apiVersions: [MONITORING_API],
    kinds: sorted([...CORE_PDB, "NetworkPolicy", "PrometheusRule", "ServiceMonitor"]),
    record: "srv"
  },
  {
    name: "minimal",
    release: "miroir",
    namespace: "default",
    valuesFiles: ["minimal.yaml"],
    apiVersions: [],
    kinds: sorted(CORE),
    record: "srv"
  },
  {
    name: "monitoring on",
    release: "miroir",
    namespace: "search",
    valuesFiles: ["monitoring-on.yaml"],
    apiVersions: [MONITORING_API],
    kinds: sorted([...CORE_PDB, "PrometheusRule", "ServiceMonitor"]),
    record: "srv"
  },
  {
    name: "monitoring off",
    release: "miroir",
    namespace: "search",
    valuesFiles: ["monitoring-off.yaml"],
    apiVersions: [],
    kinds: sorted(CORE_PDB),
    record: "srv"
  },
  {
    name: "A records",
    release: "miroir",
    namespace: "search",
    valuesFiles: ["a-record.yaml"],
    apiVersions: [],
    kinds: sorted(CORE_PDB),
    record: "a"
  },
  {
    name: "NetworkPolicy",
    release: "miroir",
    namespace: "search",
    valuesFiles: ["network-policy.yaml"],
    apiVersions: [],
    kinds: sorted([...CORE_PDB, "NetworkPolicy"]),
    record: "srv"
  },
  {
    name: "longest release name, every object on",
    release: LONGEST_RELEASE,
    namespace: "search",
    valuesFiles: ["production.yaml"],
    apiVersions: [MONITORING_API],
    kinds: sorted([...CORE_PDB, "NetworkPolicy", "PrometheusRule", "ServiceMonitor"]),
    record: "srv"
  },
  {
    name: "longest fullnameOverride, every object on",
    release: "miroir",
    namespace: "search",
    valuesFiles: ["production.yaml", "long-fullname.yaml"],
    apiVersions: [MONITORING_API],
    kinds: sorted([...CORE_PDB, "NetworkPolicy", "PrometheusRule", "ServiceMonitor"]),
    record: "srv"
  }
]

/** The inputs of a case, as paths. */
export const inputs = (c: Case) => ({
  valuesFiles: c.valuesFiles.map((file) => chartFile(`tests/good/${file}`)),
  apiVersions: c.apiVersions
})
