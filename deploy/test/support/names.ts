/**
 * Kubernetes' rules for object names and label values (apimachinery's validation), which the
 * kubernetes-models schemas do not check: a name the API server refuses, or two objects of a kind
 * under one name, only shows at install time.
 */
import type { KubeObject } from "./helm.js"

/** RFC 1123 label: what most names must be (and at most 63 characters). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
/** RFC 1035 label: what a Service's name must be, since it becomes a DNS label (starts with a letter). */
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
/** A label value: empty, or at most 63 alphanumerics with `-`, `_`, `.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** The problems with the names and labels of `objects`: empty when the API server would take them all. */
export const nameProblems = (objects: ReadonlyArray<KubeObject>): Array<string> => {
  const problems: Array<string> = []
  const seen = new Map<string, number>()
  for (const object of objects) {
    const name = object.metadata?.name ?? ""
    const where = `${object.kind} ${name}`
    // Every object the chart makes is named by a DNS label (63 at most), though some kinds would allow
    // longer subdomains: the Deployment's name also prefixes its pods' names and hostnames.
    if (name.length > 63) problems.push(`${where}: ${name.length} characters, over 63`)
    const pattern = object.kind === "Service" ? DNS1035_LABEL : DNS1123_LABEL
    if (!pattern.test(name)) problems.push(`${where}: not a DNS label (${pattern})`)
    seen.set(`${object.kind}/${name}`, (seen.get(`${object.kind}/${name}`) ?? 0) + 1)
    const labelSets = [
      object.metadata?.labels,
      object.spec?.template?.metadata?.labels,
      object.spec?.selector?.matchLabels
    ]
    for (const labels of labelSets) {
      for (const [key, value] of Object.entries(labels ?? {})) {
        if (typeof value !== "string" || value.length > 63 || !LABEL_VALUE.test(value)) {
          problems.push(`${where}: label ${key}=${JSON.stringify(value)} is not a valid label value`)
        }
      }
    }
  }
  for (const [key, count] of seen) if (count > 1) problems.push(`${count} objects named ${key}`)
  return problems
}
