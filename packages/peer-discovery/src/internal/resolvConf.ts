/** Reading the cluster domain from /etc/resolv.conf, as the kubelet writes it into every pod. */

/**
 * The cluster domain named by the `search` line of a pod's resolv.conf: the kubelet writes
 * `search <namespace>.svc.<domain> svc.<domain> <domain>`, so the entry `<namespace>.svc.<domain>`
 * (or failing that, `svc.<domain>`) gives it away. `undefined` when the file says nothing of it.
 */
export const clusterDomainFromResolvConf = (text: string, namespace: string): string | undefined => {
  const search = text
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([keyword]) => keyword === "search" || keyword === "domain")
    .flatMap(([, ...domains]) => domains.map((domain) => domain.toLowerCase().replace(/\.$/, "")))
  const namespaced = `${namespace}.svc.`
  const fromNamespace = search.find((domain) => domain.startsWith(namespaced))
  if (fromNamespace !== undefined) return fromNamespace.slice(namespaced.length) || undefined
  const fromSvc = search.find((domain) => domain.startsWith("svc."))
  return fromSvc === undefined ? undefined : fromSvc.slice("svc.".length) || undefined
}
