/**
 * The two Corefiles the harness runs, taken from the upstream text rather than written again here:
 * kubeadm's (the ConfigMap `CoreDNSConfigMap` of `cmd/kubeadm/app/phases/addons/dns/manifests.go`, a Go
 * template) and NodeLocal DNSCache's (the ConfigMap of `cluster/addons/dns/nodelocaldns/nodelocaldns.yaml`,
 * with `__PILLAR__` placeholders), both from the k8s.io/kubernetes module the install script downloads.
 * Rendering them is pure text work; every change to what upstream wrote is a named edit that fails when
 * the line it edits is not there, so that a new upstream Corefile is noticed instead of half adapted.
 */

/** Upstream text that is not shaped as this module expects: `what` says which file and line. */
export class CorefileShapeError extends Error {
  constructor(readonly what: string) {
    super(`the upstream Corefile changed shape: ${what}`)
  }
}

/** The lines of a YAML literal block `<key>: |` (indented more than the key), unindented. */
const literalBlock = (text: string, key: string, source: string): string => {
  const lines = text.split("\n")
  const start = lines.findIndex((line) => line.trim() === `${key}: |`)
  if (start < 0) throw new CorefileShapeError(`${source} has no "${key}: |" block`)
  const keyIndent = lines[start]!.search(/\S/)
  const body: Array<string> = []
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== "" && line.search(/\S/) <= keyIndent) break
    body.push(line)
  }
  const indent = Math.min(...body.filter((line) => line.trim() !== "").map((line) => line.search(/\S/)))
  return body.map((line) => line.slice(indent)).join("\n").trimEnd() + "\n"
}

/**
 * kubeadm's Corefile as kubeadm renders it for the cluster domain `domain`: the literal block of the
 * `CoreDNSConfigMap` constant of manifests.go, with its template actions (`{{ .DNSDomain }}`, and
 * `{{- if .DNSDomain }} … {{- end }}`, whose `{{-` trims the whitespace before it, as Go's text/template does).
 */
export const kubeadmCorefile = (manifestsGo: string, domain: string): string => {
  // kubeadm always has a domain (cluster.local by default): the `if` is always taken.
  if (domain === "") throw new CorefileShapeError("an empty cluster domain (kubeadm's default is cluster.local)")
  const constant = /CoreDNSConfigMap = `([^`]*)`/.exec(manifestsGo)
  if (constant === null) throw new CorefileShapeError("manifests.go has no CoreDNSConfigMap constant")
  const rendered = literalBlock(constant[1]!, "Corefile", "kubeadm's CoreDNS ConfigMap")
    .replaceAll("{{ .DNSDomain }}", domain)
    .replace(/\s*\{\{- if \.DNSDomain \}\}/g, "")
    .replace(/\s*\{\{- end \}\}/g, "")
  if (rendered.includes("{{")) {
    throw new CorefileShapeError(`kubeadm's Corefile has template actions left:\n${rendered}`)
  }
  return rendered
}

/** NodeLocal DNSCache's Corefile, its `__PILLAR__` placeholders as they are in the addon's manifest. */
export const nodeLocalDnsCorefileTemplate = (nodeLocalDnsYaml: string): string =>
  literalBlock(nodeLocalDnsYaml, "Corefile", "nodelocaldns.yaml")

/**
 * One edit of a Corefile: the first line matching `pattern` (every one with `all`) becomes the lines
 * `replace` makes of it; with `block`, a line opening a block (`… {`) goes with its block, through the
 * line closing it.
 */
interface Edit {
  readonly pattern: RegExp
  readonly replace: (line: string) => ReadonlyArray<string>
  readonly all?: boolean
  readonly block?: boolean
}

/** `text` with the indentation of `line`. */
const indented = (line: string, text: string): string => line.slice(0, line.search(/\S/)) + text

/** Applies `edits` in order; each must match at least one line, else the upstream shape changed. */
const edit = (corefile: string, edits: ReadonlyArray<Edit>, source: string): string =>
  edits.reduce((lines, { all, block, pattern, replace }) => {
    const matches = lines.flatMap((line, index) => (pattern.test(line) ? [index] : []))
    if (matches.length === 0) throw new CorefileShapeError(`${source} has no line matching ${pattern}`)
    const out: Array<string> = []
    let skipUntilDepth = -1
    let depth = 0
    lines.forEach((line, index) => {
      const opens = line.trimEnd().endsWith("{") ? 1 : 0
      const closes = line.trim() === "}" ? 1 : 0
      if (skipUntilDepth >= 0) {
        depth += opens - closes
        if (depth === skipUntilDepth) skipUntilDepth = -1
        return
      }
      if ((all === true ? matches : matches.slice(0, 1)).includes(index)) {
        out.push(...replace(line))
        if (block === true && opens === 1) skipUntilDepth = depth
        depth += opens
        return
      }
      depth += opens - closes
      out.push(line)
    })
    return out
  }, corefile.split("\n")).join("\n")

/** Where one server block of kubeadm's Corefile listens, and what it may use on this machine. */
export interface KubeadmServer {
  /** The port of its zone `.` (kubeadm's is 53). */
  readonly port: number
  /** The address it binds (kubeadm's binds every address; here only loopback or a node's address). */
  readonly bind: string
  /** The kubeconfig of the `kubernetes` plugin (in a pod it reads its service account instead). */
  readonly kubeconfig: string
  /** Where `forward` sends every name outside the cluster: a closed loopback port, nothing outside. */
  readonly forwardTo: string
  /**
   * The addresses of `health` and `ready` (kubeadm's: ports 8080 and 8181 of every address); absent, the
   * block has neither (a process serves each once, and another block of the file has them).
   */
  readonly probes?: { readonly health: string; readonly ready: string }
  /** The address of `prometheus` (kubeadm's `:9153`); blocks of one file may share it. */
  readonly metrics: string
}

/**
 * kubeadm's Corefile with only what this machine needs changed: the block listens on `port` of `bind`,
 * the `kubernetes` plugin reads the API server through a kubeconfig, `health`, `ready` and `prometheus`
 * listen on loopback, and `forward . /etc/resolv.conf` is pointed at a closed loopback port (nothing
 * outside the machine may be asked). Everything else, `cache 30 { disable success cluster.local; disable
 * denial cluster.local }` included, stays as kubeadm wrote it.
 */
export const kubeadmServer = (corefile: string, server: KubeadmServer): string => {
  const { probes } = server
  return edit(corefile, [
    { pattern: /^\.:53 \{$/, replace: () => [`.:${server.port} {`, `    bind ${server.bind}`] },
    probes === undefined
      ? { pattern: /^\s*health( \{)?$/, replace: () => [], block: true }
      : { pattern: /^\s*health \{$/, replace: (line) => [indented(line, `health ${probes.health} {`)] },
    {
      pattern: /^\s*ready$/,
      replace: (line) => (probes === undefined ? [] : [indented(line, `ready ${probes.ready}`)])
    },
    {
      pattern: /^\s*kubernetes \S+ in-addr\.arpa ip6\.arpa \{$/,
      replace: (line) => [line, indented(line, `   kubeconfig ${server.kubeconfig}`)]
    },
    { pattern: /^\s*prometheus :9153$/, replace: (line) => [indented(line, `prometheus ${server.metrics}`)] },
    {
      pattern: /^\s*forward \. \/etc\/resolv\.conf( \{)?$/,
      replace: (line) => [line.replace("/etc/resolv.conf", server.forwardTo)]
    }
  ], "kubeadm's Corefile")
}

/** Where NodeLocal DNSCache listens and what it asks. */
export interface NodeLocalServer {
  /** `__PILLAR__LOCAL__DNS__`: the address the pods ask (here the node's, the kubelet's `clusterDNS`). */
  readonly localAddress: string
  /** `__PILLAR__CLUSTER__DNS__`: the cluster's CoreDNS, asked over TCP (`force_tcp`) for cluster names. */
  readonly clusterDns: string
  /** `__PILLAR__UPSTREAM__SERVERS__`: every other name; a closed loopback port, nothing outside. */
  readonly upstream: string
  readonly domain: string
  /** Its `health` and `prometheus` (upstream: `<local address>:8080` and every address's 9253). */
  readonly health: string
  readonly metrics: string
}

/**
 * NodeLocal DNSCache's Corefile with its placeholders filled: `cache { success 9984 30; denial 9984 5 }`
 * for the cluster domain and `cache 30` for the rest, as the addon ships it. Its `bind` names only the
 * local address: upstream also binds the `kube-dns` Service's ClusterIP (`__PILLAR__DNS__SERVER__`) to take
 * over the packets kube-proxy would route, which the harness does not need since the kubelet's
 * `clusterDNS` is the local address itself (the addon's documented set-up for kube-proxy in IPVS mode).
 */
export const nodeLocalServer = (template: string, server: NodeLocalServer): string => {
  const source = "NodeLocal DNSCache's Corefile"
  const edited = edit(template, [
    {
      pattern: /^\s*bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__$/,
      replace: (line) => [indented(line, "bind __PILLAR__LOCAL__DNS__")],
      all: true
    },
    {
      pattern: /^\s*prometheus :9253$/,
      replace: (line) => [indented(line, `prometheus ${server.metrics}`)],
      all: true
    },
    {
      pattern: /^\s*health __PILLAR__LOCAL__DNS__:8080$/,
      replace: (line) => [indented(line, `health ${server.health}`)]
    }
  ], source)
  const filled = edited
    .replaceAll("__PILLAR__DNS__DOMAIN__", server.domain)
    .replaceAll("__PILLAR__LOCAL__DNS__", server.localAddress)
    .replaceAll("__PILLAR__CLUSTER__DNS__", server.clusterDns)
    .replaceAll("__PILLAR__UPSTREAM__SERVERS__", server.upstream)
  if (filled.includes("__PILLAR__")) throw new CorefileShapeError(`${source} has placeholders left:\n${filled}`)
  return filled
}
