{{/* The release's full name, cut to 63 characters. */}}
{{- define "hookguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The app's name: app.name, or the full name. */}}
{{- define "hookguard.appName" -}}
{{- default (include "hookguard.fullname" .) .Values.app.name -}}
{{- end -}}

{{- define "hookguard.secretName" -}}
{{- default (printf "%s-hookguard-secrets" (include "hookguard.fullname" .)) .Values.hookguard.secretName -}}
{{- end -}}

{{- define "hookguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookguard.appName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hookguard.labels" -}}
{{ include "hookguard.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
