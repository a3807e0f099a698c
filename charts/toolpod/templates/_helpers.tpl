{{/* Names, labels and small computed values shared by every template. */}}

{{- define "toolpod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "toolpod.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "toolpod.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "toolpod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The controller's Pods. Runner Jobs carry app.kubernetes.io/name=toolpod too, with
component=runner: the selector names the component so the two never mix. */}}
{{- define "toolpod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "toolpod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "toolpod.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "toolpod.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespaces served: watch.namespaces, or the release's own. */}}
{{- define "toolpod.watchNamespaces" -}}
{{- if .Values.watch.namespaces -}}
{{- join "," .Values.watch.namespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "toolpod.image" -}}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "toolpod.pdbEnabled" -}}
{{- $e := .Values.podDisruptionBudget.enabled -}}
{{- if or (eq (toString $e) "true") (and (eq (toString $e) "auto") (gt (int .Values.replicaCount) 1)) -}}
true
{{- end -}}
{{- end -}}

{{/* The controller's settings as TOOLPOD_* environment (docs/service.md lists each). */}}
{{- define "toolpod.controllerEnv" -}}
{{- $c := .Values.controller -}}
{{- $r := .Values.runner -}}
{{- if not .Values.watch.clusterWide }}
# Watched from the start (ready once synced); requests for other namespaces answer 404:
# the controller's Roles reach only these.
- name: TOOLPOD_WATCH_NAMESPACES
  value: {{ include "toolpod.watchNamespaces" . | replace "," " " | quote }}
- name: TOOLPOD_ONLY_WATCHED
  value: "true"
{{- end }}
# Every Job and invocation record is owned by this release's ClusterRole: `helm uninstall`
# removes it, and garbage collection then removes them in every served namespace.
- name: TOOLPOD_OWNER
  value: {{ printf "ClusterRole/%s-auth" (include "toolpod.fullname" .) | quote }}
- name: TOOLPOD_MAX_IN_FLIGHT
  value: {{ $c.maxInFlight | quote }}
- name: TOOLPOD_MAX_QUEUED
  value: {{ $c.maxQueued | quote }}
- name: TOOLPOD_RETENTION_S
  value: {{ $c.retentionSeconds | quote }}
- name: TOOLPOD_WAIT_CAP_S
  value: {{ $c.maxWaitSeconds | quote }}
- name: TOOLPOD_RESULT_SINK
  value: {{ $c.resultSink | quote }}
{{- if eq $c.resultSink "nats_kv" }}
- name: TOOLPOD_RESULT_BUCKET
  value: {{ $c.resultBucket | quote }}
- name: TOOLPOD_RESULT_AUTH
  value: {{ $c.resultAuth | quote }}
{{- end }}
{{- if not $c.auth }}
- name: TOOLPOD_NO_AUTH
  value: "true"
{{- end }}
{{- with $c.tokenAudience }}
- name: TOOLPOD_AUDIENCES
  value: {{ . | quote }}
{{- end }}
- name: TOOLPOD_LOG_LEVEL
  value: {{ $c.logLevel | quote }}
- name: TOOLPOD_IMAGE
  value: {{ include "toolpod.image" (dict "image" $r.image "chart" .Chart) | quote }}
- name: TOOLPOD_IMAGE_PULL_POLICY
  value: {{ $r.image.pullPolicy | quote }}
- name: TOOLPOD_RUNNER_RESOURCES
  value: {{ $r.resources | toJson | quote }}
- name: TOOLPOD_BACKOFF_LIMIT
  value: {{ $r.backoffLimit | quote }}
- name: TOOLPOD_DEFAULT_DEADLINE_S
  value: {{ $r.defaultDeadlineSeconds | quote }}
- name: TOOLPOD_DEADLINE_GRACE_S
  value: {{ $r.deadlineGraceSeconds | quote }}
- name: TOOLPOD_TTL_AFTER_FINISHED_S
  value: {{ $r.ttlSecondsAfterFinished | quote }}
- name: TOOLPOD_TERMINATION_GRACE_S
  value: {{ $r.terminationGracePeriodSeconds | quote }}
{{- end -}}

{{/* The controller's rules in a served namespace (rbac.yaml says why each). */}}
{{- define "toolpod.namespacedRules" -}}
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, list, watch, update, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, get, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, get, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, get, delete]
{{- end -}}
