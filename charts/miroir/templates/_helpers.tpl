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

{{/* The headless Service whose DNS records list the pods. */}}
{{- define "miroir.headlessName" -}}
{{- printf "%s-headless" (include "miroir.fullname" .) | trunc 63 | trimSuffix "-" }}
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
