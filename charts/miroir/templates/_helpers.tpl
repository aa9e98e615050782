{{/* The chart's name. */}}
{{- define "miroir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects, at most 63 characters, a valid Service name (RFC 1035 label) for
any release name Helm accepts: Helm allows dots (`my.release`) and a leading digit (`1search`), which a
Service name does not, so dots become dashes and a name that would start with a digit puts the chart's
name first (`miroir-1search`).
*/}}
{{- define "miroir.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- $release := .Release.Name | replace "." "-" }}
{{- if contains $name $release }}
{{- $release | trunc 63 | trimSuffix "-" }}
{{- else if regexMatch "^[0-9]" $release }}
{{- printf "%s-%s" $name $release | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" $release $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The headless Service whose DNS records list the pods. The full name is cut to 54 characters before the
suffix, not the whole name to 63 after it: a full name of 63 characters (a long fullnameOverride or
nameOverride) would otherwise lose the whole suffix and name the headless Service like the other one.
*/}}
{{- define "miroir.headlessName" -}}
{{- printf "%s-headless" (include "miroir.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* The `helm test` pod, cut like the headless Service's name. */}}
{{- define "miroir.testName" -}}
{{- printf "%s-test-peers" (include "miroir.fullname" . | trunc 52 | trimSuffix "-") }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "miroir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "miroir.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: repository, then a digest if given (it wins over the tag), else the tag or the chart's appVersion. */}}
{{- define "miroir.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Labels of every object but the test pod (which must not carry the selector's name label). */}}
{{- define "miroir.labels" -}}
{{ include "miroir.metaLabels" . }}
{{ include "miroir.selectorLabels" . }}
{{- end }}

{{/* Labels that say what made an object, without the selector's. */}}
{{- define "miroir.metaLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: miroir
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels that select the pods: the Deployment's selector and both Services'. */}}
{{- define "miroir.selectorLabels" -}}
app.kubernetes.io/name: {{ include "miroir.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* A duration of the form 250ms, 15s, 1m or 1h (values.schema.json allows no other) in seconds. */}}
{{- define "miroir.seconds" -}}
{{- if hasSuffix "ms" . }}{{ divf (trimSuffix "ms" .) 1000 }}
{{- else if hasSuffix "s" . }}{{ trimSuffix "s" . }}
{{- else if hasSuffix "m" . }}{{ mul (trimSuffix "m" .) 60 }}
{{- else }}{{ mul (trimSuffix "h" .) 3600 }}
{{- end }}
{{- end }}

{{/*
A number of seconds as PromQL reads it: whole numbers as integers, others with three decimals. Helm's
own printing of a float64 switches to exponent form from a million (1e+06), which must never reach a
rule or an environment variable.
*/}}
{{- define "miroir.number" -}}
{{- $n := float64 . }}
{{- if eq $n (floor $n) }}{{ printf "%d" (int64 $n) }}{{ else }}{{ printf "%.3f" $n }}{{ end }}
{{- end }}

{{/* A Prometheus duration of whole seconds, at least `floor` seconds: (list seconds floor). */}}
{{- define "miroir.promFor" -}}
{{- $seconds := index . 0 | float64 | ceil | int64 }}
{{- printf "%ds" (max $seconds (index . 1 | int64)) }}
{{- end }}

{{/* The refresh interval in seconds. */}}
{{- define "miroir.refreshSeconds" -}}
{{- include "miroir.seconds" .Values.discovery.refreshInterval }}
{{- end }}

{{/*
ownershipAudit.interval as a string: YAML 1.1, which Helm reads values files with, takes an unquoted
`off` for the boolean false; it means off.
*/}}
{{- define "miroir.auditInterval" -}}
{{- $value := .Values.ownershipAudit.interval }}
{{- if kindIs "bool" $value }}{{ "off" }}{{ else }}{{ $value }}{{ end }}
{{- end }}

{{/*
peerHealth.probeInterval as a string: an unquoted `off` (YAML 1.1's false) means off, as for the audit.
*/}}
{{- define "miroir.probeInterval" -}}
{{- $value := .Values.peerHealth.probeInterval }}
{{- if kindIs "bool" $value }}{{ "off" }}{{ else }}{{ $value }}{{ end }}
{{- end }}

{{/* The audit interval in seconds (auto: three refresh intervals, as the pods compute it). */}}
{{- define "miroir.auditSeconds" -}}
{{- $audit := include "miroir.auditInterval" . }}
{{- if and $audit (ne $audit "auto") (ne $audit "off") }}{{ include "miroir.seconds" $audit }}
{{- else }}{{ mulf 3 (include "miroir.refreshSeconds" . | float64) }}
{{- end }}
{{- end }}

{{/*
Half of resources.limits.memory in MiB, for V8's --max-old-space-size; empty without a limit (Node then
sizes its heap from the cgroup's limit or the machine's memory itself). Quantities in Ki/Mi/Gi/Ti,
k/M/G/T or bytes; a value the chart cannot read, or a limit under 128Mi (the process alone takes about
100 MiB, see BENCHMARKS.md), is refused.
*/}}
{{- define "miroir.heapMiB" -}}
{{- $limit := dig "limits" "memory" "" .Values.resources }}
{{- if $limit }}
{{- $text := $limit }}
{{- if not (kindIs "string" $limit) }}{{ $text = printf "%.0f" (float64 $limit) }}{{ end }}
{{- $match := regexFindAll "^[0-9]+([.][0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$" $text 1 }}
{{- if not $match }}
{{- fail (printf "resources.limits.memory (%s): write it in Ki, Mi, Gi, Ti, k, M, G, T or bytes, such as 256Mi" $text) }}
{{- end }}
{{- $number := regexReplaceAll "(Ki|Mi|Gi|Ti|k|M|G|T)$" $text "" | float64 }}
{{- $unit := trimPrefix (regexReplaceAll "(Ki|Mi|Gi|Ti|k|M|G|T)$" $text "") $text }}
{{- $bytes := mulf $number (get (dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000) $unit) }}
{{- $mib := divf $bytes 1048576 }}
{{- if lt $mib 128.0 }}
{{- fail (printf "resources.limits.memory (%s) must be at least 128Mi: the process alone takes about 100 MiB" $text) }}
{{- end }}
{{- printf "%d" (divf $mib 2 | floor | int64) }}
{{- end }}
{{- end }}

{{/* The environment variables the chart sets itself, which extraEnv may not set again. */}}
{{- define "miroir.reservedEnv" -}}
POD_NAME POD_NAMESPACE POD_IP MIROIR_PEER_DISCOVERY_SERVICE MIROIR_PEER_DISCOVERY_PORT_NAME MIROIR_PEER_DISCOVERY_RECORD MIROIR_PEER_DISCOVERY_REFRESH_INTERVAL MIROIR_PEER_DISCOVERY_LOOKUP_TIMEOUT MIROIR_HTTP_HOST MIROIR_HTTP_PORT MIROIR_METRICS_PORT MIROIR_SHARDS MIROIR_OWNERSHIP_AUDIT_INTERVAL MIROIR_PEER_PROBE_INTERVAL MIROIR_PEER_PROBE_TIMEOUT MIROIR_PEER_INDIRECT_PROBES MIROIR_PEER_SUSPICION_TIMEOUT MIROIR_SELF_FENCE_AFTER MIROIR_PEER_HINTS MIROIR_LOG_LEVEL MIROIR_LOG_FORMAT NODE_OPTIONS OTEL_SERVICE_NAME OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL OTEL_METRIC_EXPORT_INTERVAL
{{- end }}

{{/*
Refuses values that values.schema.json lets through but that would not work, at install time rather
than as pods in a crash loop or objects the API server refuses:
- a grace period too short for the preStop delay and the process's own shutdown (SIGKILL would cut it);
- durations the pods refuse at start-up (PeerDiscoveryConfig, PeerHealthConfig, AppConfig): the refresh
  interval from 10ms to 1h, the lookup timeout from 5ms and below the refresh interval, the audit interval
  from 250ms to 1h, the failure detector's probe interval from 100ms to 1m with its timeout below it, its
  suspicion timeout of at least the probe timeout, its self-fence time of at least the probe interval;
- an image without a repository: no image of Miroir is published, so the chart names none by default;
- labels that would change which pods the Services, the budget and the policy select;
- extraEnv entries that would replace the chart's own settings (Kubernetes keeps the last of two
  variables of one name, so discovery would silently look elsewhere);
- the ServiceMonitor and PrometheusRule without the Prometheus Operator's API (Helm would fail later
  with "no matches for kind", after creating the rest).
*/}}
{{- define "miroir.validate" -}}
{{- $refresh := include "miroir.refreshSeconds" . | float64 }}
{{- if or (lt $refresh 0.01) (gt $refresh 3600.0) }}
{{- fail (printf "discovery.refreshInterval (%s) must be from 10ms to 1h" .Values.discovery.refreshInterval) }}
{{- end }}
{{- /* Unset, the pods derive it from the interval (half, at most 3s), which is always valid. */}}
{{- with .Values.discovery.lookupTimeout }}
{{- $timeout := include "miroir.seconds" . | float64 }}
{{- if lt $timeout 0.005 }}
{{- fail (printf "discovery.lookupTimeout (%s) must be at least 5ms" .) }}
{{- end }}
{{- if ge $timeout $refresh }}
{{- fail (printf "discovery.lookupTimeout (%s) must be below discovery.refreshInterval (%s)" . $.Values.discovery.refreshInterval) }}
{{- end }}
{{- end }}
{{- $audit := include "miroir.auditInterval" . }}
{{- if and $audit (ne $audit "auto") (ne $audit "off") }}
{{- $auditSeconds := include "miroir.seconds" $audit | float64 }}
{{- if or (lt $auditSeconds 0.25) (gt $auditSeconds 3600.0) }}
{{- fail (printf "ownershipAudit.interval (%s) must be auto, off, or from 250ms to 1h" $audit) }}
{{- end }}
{{- end }}
{{- $probe := include "miroir.probeInterval" . }}
{{- $probeTimeout := include "miroir.seconds" .Values.peerHealth.probeTimeout | float64 }}
{{- $suspicion := include "miroir.seconds" .Values.peerHealth.suspicionTimeout | float64 }}
{{- if or (lt $probeTimeout 0.01) (gt $probeTimeout 30.0) }}
{{- fail (printf "peerHealth.probeTimeout (%s) must be from 10ms to 30s" .Values.peerHealth.probeTimeout) }}
{{- end }}
{{- if or (lt $suspicion $probeTimeout) (gt $suspicion 60.0) }}
{{- fail (printf "peerHealth.suspicionTimeout (%s) must be from peerHealth.probeTimeout (%s) to 1m" .Values.peerHealth.suspicionTimeout .Values.peerHealth.probeTimeout) }}
{{- end }}
{{- if ne $probe "off" }}
{{- $interval := include "miroir.seconds" $probe | float64 }}
{{- $fence := include "miroir.seconds" .Values.peerHealth.selfFenceAfter | float64 }}
{{- if or (lt $interval 0.1) (gt $interval 60.0) }}
{{- fail (printf "peerHealth.probeInterval (%s) must be off or from 100ms to 1m" $probe) }}
{{- end }}
{{- if ge $probeTimeout $interval }}
{{- fail (printf "peerHealth.probeTimeout (%s) must be below peerHealth.probeInterval (%s)" .Values.peerHealth.probeTimeout $probe) }}
{{- end }}
{{- if or (lt $fence $interval) (gt $fence 60.0) }}
{{- fail (printf "peerHealth.selfFenceAfter (%s) must be from peerHealth.probeInterval (%s) to 1m" .Values.peerHealth.selfFenceAfter $probe) }}
{{- end }}
{{- end }}
{{- $preStop := int .Values.lifecycle.preStopSleepSeconds }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add $preStop 8) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least lifecycle.preStopSleepSeconds (%d) + 8: the grace period counts from the start of the preStop hook, an exec of the pod's program that ends after the delay or, if DNS is slow to drop the pod, up to 3 s later (2 s waiting for DNS, 1 s telling its peers), and the process then takes a few seconds to exit" (int .Values.terminationGracePeriodSeconds) $preStop) }}
{{- end }}
{{- if and (eq (dig "type" "" .Values.strategy) "Recreate") (hasKey .Values.strategy "rollingUpdate") }}
{{- fail "strategy.rollingUpdate may not be set with strategy.type Recreate (the API server refuses it)" }}
{{- end }}
{{- if not .Values.image.repository }}
{{- fail "image.repository is required: no Miroir image is published; build it from the Dockerfile, push it to a registry your cluster pulls from and set image.repository (and image.tag or image.digest), see the README's \"Deploy to Kubernetes\"" }}
{{- end }}
{{- range $key := keys (include "miroir.selectorLabels" . | fromYaml) | sortAlpha }}
{{- range $values := list "commonLabels" "podLabels" }}
{{- if hasKey (index $.Values $values) $key }}
{{- fail (printf "%s may not set %s: it is one of the labels that select the release's pods" $values $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- if hasKey .Values.commonLabels "app.kubernetes.io/component" }}
{{- fail "commonLabels may not set app.kubernetes.io/component: it tells the Service the ServiceMonitor scrapes from the headless one" }}
{{- end }}
{{- $reserved := include "miroir.reservedEnv" . | splitList " " }}
{{- range .Values.extraEnv }}
{{- if has .name $reserved }}
{{- fail (printf "extraEnv may not set %s: the chart sets it (use the chart's value for it)" .name) }}
{{- end }}
{{- end }}
{{- $fullname := include "miroir.fullname" . }}
{{- if eq $fullname (include "miroir.headlessName" .) }}
{{- fail (printf "the full name %s would also be the headless Service's name: choose a fullnameOverride that does not end in -headless" $fullname) }}
{{- end }}
{{- $monitoring := .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
{{- range $kind := list "serviceMonitor" "prometheusRule" }}
{{- if and (index $.Values $kind).enabled (not $monitoring) }}
{{- fail (printf "%s.enabled needs the Prometheus Operator's CRDs (API monitoring.coreos.com/v1), which this cluster does not serve: install them (kube-prometheus-stack or prometheus-operator-crds) or set %s.enabled=false" $kind $kind) }}
{{- end }}
{{- end }}
{{- end }}
