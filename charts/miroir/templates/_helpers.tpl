{{/* The chart's name. */}}
{{- define "miroir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's objects. */}}
{{- define "miroir.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
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

{{/* Labels of every object. */}}
{{- define "miroir.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "miroir.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: miroir
{{- end }}

{{/* The labels that select the pods: the Deployment's selector and both Services'. */}}
{{- define "miroir.selectorLabels" -}}
app.kubernetes.io/name: {{ include "miroir.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
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
Refuses durations that values.schema.json lets through but the pods refuse at start-up (they would exit
with a configuration error and crash-loop): the refresh interval from 10ms to 1h, the lookup timeout from
5ms and below the refresh interval, the audit interval from 250ms to 1h. Said at install time instead.
*/}}
{{- define "miroir.validate" -}}
{{- $refresh := include "miroir.seconds" .Values.discovery.refreshInterval | float64 }}
{{- $timeout := include "miroir.seconds" .Values.discovery.lookupTimeout | float64 }}
{{- if or (lt $refresh 0.01) (gt $refresh 3600.0) }}
{{- fail (printf "discovery.refreshInterval (%s) must be from 10ms to 1h" .Values.discovery.refreshInterval) }}
{{- end }}
{{- if lt $timeout 0.005 }}
{{- fail (printf "discovery.lookupTimeout (%s) must be at least 5ms" .Values.discovery.lookupTimeout) }}
{{- end }}
{{- if ge $timeout $refresh }}
{{- fail (printf "discovery.lookupTimeout (%s) must be below discovery.refreshInterval (%s)" .Values.discovery.lookupTimeout .Values.discovery.refreshInterval) }}
{{- end }}
{{- $audit := .Values.ownershipAudit.interval }}
{{- if and $audit (ne $audit "auto") (ne $audit "off") }}
{{- $auditSeconds := include "miroir.seconds" $audit | float64 }}
{{- if or (lt $auditSeconds 0.25) (gt $auditSeconds 3600.0) }}
{{- fail (printf "ownershipAudit.interval (%s) must be auto, off, or from 250ms to 1h" $audit) }}
{{- end }}
{{- end }}
{{- end }}
