{{/* Chart name, overridable. */}}
{{- define "qcap-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: fullnameOverride, else "<release>-<chart>" (or the release name when it already contains the chart name). */}}
{{- define "qcap-operator.fullname" -}}
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

{{- define "qcap-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator pods (stable across upgrades). */}}
{{- define "qcap-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qcap-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "qcap-operator.labels" -}}
helm.sh/chart: {{ include "qcap-operator.chart" . }}
{{ include "qcap-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: qcap
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "qcap-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qcap-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "qcap-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "qcap-operator.fullname" .)) .Values.leaderElection.leaseName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "qcap-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Checks across values that the JSON schema cannot express. */}}
{{- define "qcap-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled=true (two active operators would race)" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled requires metrics.service.enabled" }}
{{- end }}
{{- end }}

{{/* The operator's command-line arguments (one per line, YAML list items). */}}
{{- define "qcap-operator.args" -}}
- --listen=0.0.0.0:{{ .Values.port }}
- --log-level={{ .Values.logLevel }}
{{- with .Values.watchNamespaces }}
- --namespaces={{ join "," . }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
- --leader-election-namespace={{ .Release.Namespace }}
- --leader-election-id={{ include "qcap-operator.leaseName" . }}
- --lease-duration={{ .Values.leaderElection.leaseDuration }}
- --renew-deadline={{ .Values.leaderElection.renewDeadline }}
- --retry-period={{ .Values.leaderElection.retryPeriod }}
{{- else }}
- --no-leader-elect
{{- end }}
- --workers={{ .Values.reconcile.workers }}
- --resync={{ .Values.reconcile.resync }}
- --backoff={{ .Values.reconcile.backoff }}
- --max-backoff={{ .Values.reconcile.maxBackoff }}
- --shutdown-timeout={{ .Values.shutdownTimeout }}
- --s3-connect-timeout={{ .Values.s3.connectTimeout }}
- --s3-idle-timeout={{ .Values.s3.idleTimeout }}
- --s3-request-timeout={{ .Values.s3.requestTimeout }}
{{- if gt (int .Values.s3.maxPerDestination) 0 }}
- --max-per-destination={{ .Values.s3.maxPerDestination }}
{{- end }}
{{- with .Values.httpSources.allow }}
- --http-source-allow={{ join "," . }}
{{- end }}
{{- with .Values.httpSources.deny }}
- --http-source-deny={{ join "," . }}
{{- end }}
- --http-source-max-size={{ .Values.httpSources.maxSize }}
- --http-source-timeout={{ .Values.httpSources.timeout }}
- --http-source-deadline={{ .Values.httpSources.deadline }}
- --default-service-account={{ .Values.tenancy.defaultServiceAccount }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
RBAC rules of the watched namespaces (the ClusterRole, or each Role): exactly the requests the operator
makes, as recorded by charts/test/rbac.test.ts, which fails on any rule the operator does not use.
*/}}
{{- define "qcap-operator.rules" -}}
# Informers (list, watch); each reconcile reads the Capsule (get) and sets its finalizer (merge patch).
- apiGroups: ["qcap.dev"]
  resources: ["capsules"]
  verbs: ["get", "list", "watch", "patch"]
# Conditions, observedGeneration and the published artifact.
- apiGroups: ["qcap.dev"]
  resources: ["capsules/status"]
  verbs: ["patch"]
# Grants: informer (list, watch), a fresh read and the finalizer (get, merge patch) on each reconcile.
- apiGroups: ["qcap.dev"]
  resources: ["capabilitygrants"]
  verbs: ["get", "list", "watch", "patch"]
# Token id, expiry, renewal time and conditions.
- apiGroups: ["qcap.dev"]
  resources: ["capabilitygrants/status"]
  verbs: ["patch"]
# Grant Secrets carry an owner reference with blockOwnerDeletion to their grant, which clusters with the
# OwnerReferencesPermissionEnforcement admission plugin allow only with update on this subresource.
- apiGroups: ["qcap.dev"]
  resources: ["capabilitygrants/finalizers"]
  verbs: ["update"]
# ConfigMaps change events (informer). Their content is read as the Capsule's ServiceAccount, not with
# these rules.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "watch"]
# The Publisher a Capsule refers to (after its ServiceAccount was found allowed to use it), and an
# informer (list, watch) so that a changed Publisher applies to its Capsules at once.
- apiGroups: ["qcap.dev"]
  resources: ["publishers"]
  verbs: ["get", "list", "watch"]
# Sources, recipient lists and access reviews are made as the Capsule's (or grant's) ServiceAccount, so
# that a Capsule author gets no permission that ServiceAccount lacks.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  {{- with .Values.tenancy.serviceAccountNames }}
  resourceNames: {{ toJson . }}
  {{- end }}
  verbs: ["impersonate"]
# Publisher signing keys and S3 credentials (get); the grant Secrets it manages: written (create,
# update), watched by label (list, watch), deleted or released (delete, patch) with their grant.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# An Event for each publish, grant, revocation and failure.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
