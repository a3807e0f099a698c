{{/* Combinations the schema cannot express: fail the render with a message saying what to
change. Included from deployment.yaml so every install and template run evaluates them. */}}
{{- define "toolpod.validate" -}}
{{- if and .Values.watch.clusterWide .Values.watch.namespaces -}}
{{- fail "watch.clusterWide and watch.namespaces exclude each other: serve every namespace (clusterWide: true) or list them (namespaces: [...]), not both" -}}
{{- end -}}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) (include "toolpod.pdbEnabled" .) (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) -}}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set minAvailable: null to use maxUnavailable)" -}}
{{- end -}}
{{- if and (eq (toString .Values.podDisruptionBudget.enabled) "true") (eq (int .Values.replicaCount) 1) (eq (toString .Values.podDisruptionBudget.minAvailable) "1") -}}
{{- fail "podDisruptionBudget.minAvailable 1 with replicaCount 1 blocks every node drain: raise replicaCount or use enabled: auto" -}}
{{- end -}}
{{- if and (not .Values.rbac.create) (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) -}}
{{- fail "rbac.create false and serviceAccount.create false need serviceAccount.name: the existing ServiceAccount that holds the controller's permissions" -}}
{{- end -}}
{{- if and (eq .Values.controller.resultSink "nats_kv") (not (and .Values.controller.resultBucket .Values.controller.resultAuth)) -}}
{{- fail "controller.resultSink nats_kv needs controller.resultBucket and controller.resultAuth (the credential alias of the NATS server holding the results bucket)" -}}
{{- end -}}
{{- end -}}
