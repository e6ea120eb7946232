{{/*
Named templates of the k3sync chart. They use only the template functions
internal/deploytest's renderer provides (Go's builtins plus include,
required, toYaml, indent, nindent, quote, default, trunc, trimSuffix,
replace, contains, hasKey, b64enc, sha256sum); the test fails on any other.
*/}}

{{- define "k3sync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "k3sync.fullname" -}}
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

{{- define "k3sync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "k3sync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Never app.kubernetes.io/managed-by: k3sync, which marks what k3sync manages. */}}
{{- define "k3sync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "k3sync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "k3sync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "k3sync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "k3sync.secretName" -}}
{{- default (include "k3sync.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "k3sync.leaseName" -}}
{{- printf "%s-leader" (include "k3sync.fullname" .) -}}
{{- end -}}

{{- define "k3sync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
k3sync.yaml. Secret values are files of the chart's (or your) Secret,
mounted at /var/run/secrets/k3sync.
*/}}
{{- define "k3sync.config" -}}
{{- $secrets := "/var/run/secrets/k3sync" -}}
{{- $clusters := .Values.config.clusters -}}
clusters:
{{- with .Values.config.inClusterName }}
  {{ . | quote }}:
    kubeconfig: /etc/k3sync/in-cluster.kubeconfig
    {{- with index $clusters . }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- range $name, $_ := .Values.kubeconfigs }}
  {{ $name | quote }}:
    kubeconfig: /var/run/secrets/k3sync-kubeconfigs/{{ $name }}
    {{- with index $clusters $name }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
kafka:
{{- range $name, $k := .Values.kafka }}
  {{ $name | quote }}:
    brokers:
      {{- toYaml (required (printf "kafka.%s.brokers is required" $name) $k.brokers) | nindent 6 }}
    {{- with $k.mutationsPerSecond }}
    mutationsPerSecond: {{ . }}
    {{- end }}
    {{- with $k.sasl }}
    sasl:
      mechanism: {{ .mechanism | quote }}
      username: {{ .username | quote }}
      passwordFile: {{ $secrets }}/kafka-{{ $name }}-password
    {{- end }}
    {{- with $k.tls }}
    tls:
      {{- if .ca }}
      caFile: {{ $secrets }}/kafka-{{ $name }}-ca.pem
      {{- end }}
      insecureSkipVerify: {{ .insecureSkipVerify | default false }}
    {{- end }}
{{- end }}
gateways:
{{- range $name, $g := .Values.kong }}
  {{ $name | quote }}:
    adminURL: {{ required (printf "kong.%s.adminURL is required" $name) $g.adminURL | quote }}
    {{- if $g.auth }}
    tokenFile: {{ $secrets }}/kong-{{ $name }}-token
    {{- end }}
    {{- with $g.concurrency }}
    concurrency: {{ . }}
    {{- end }}
    {{- with $g.tls }}
    tls:
      {{- if .ca }}
      caFile: {{ $secrets }}/kong-{{ $name }}-ca.pem
      {{- end }}
      insecureSkipVerify: {{ .insecureSkipVerify | default false }}
    {{- end }}
{{- end }}
# Shared by the replicas: Secrets in the release namespace.
state:
  backend: kubernetes
  namespace: {{ .Release.Namespace }}
  {{- with .Values.config.state }}
  {{- with .qps }}
  qps: {{ . }}
  {{- end }}
  {{- with .burst }}
  burst: {{ . }}
  {{- end }}
  {{- end }}
git:
  url: {{ required "config.git.url is required" .Values.config.git.url | quote }}
  branch: {{ .Values.config.git.branch | default "main" | quote }}
  interval: {{ .Values.config.git.interval | default "30s" | quote }}
  # On an emptyDir volume: the root filesystem is read-only.
  dir: /var/lib/k3sync/repo
  {{- with .Values.config.git.username }}
  username: {{ . | quote }}
  tokenFile: {{ $secrets }}/git-token
  {{- end }}
  {{- with .Values.config.git.maxObjectBytes }}
  maxObjectBytes: {{ . | quote }}
  {{- end }}
server:
  listen: ":8080"
  tokens:
  {{- range .Values.tokens }}
    - name: {{ .name | quote }}
      role: {{ .role | quote }}
      tokenFile: {{ $secrets }}/api-token-{{ .name }}
  {{- end }}
  webhooks:
    {{- if .Values.webhooks.github.enabled }}
    github: {secretFile: {{ $secrets }}/webhook-github}
    {{- end }}
    {{- if .Values.webhooks.gitea.enabled }}
    gitea: {secretFile: {{ $secrets }}/webhook-gitea}
    {{- end }}
reconcile:
  leaderElection:
    cluster: in-cluster
    namespace: {{ .Release.Namespace }}
    name: {{ include "k3sync.leaseName" . }}
    leaseDuration: {{ .Values.config.leaderElection.leaseDuration | default "15s" | quote }}
{{- end -}}

{{/* The data of the chart's Secret, base64-encoded: the keys k3sync.config names. */}}
{{- define "k3sync.secretData" -}}
{{- if .Values.config.git.username }}
git-token: {{ .Values.git.token | default "" | b64enc | quote }}
{{- end }}
{{- range .Values.tokens }}
api-token-{{ .name }}: {{ .token | default "" | b64enc | quote }}
{{- end }}
{{- range $name, $k := .Values.kafka }}
{{- with $k.sasl }}
kafka-{{ $name }}-password: {{ .password | default "" | b64enc | quote }}
{{- end }}
{{- with $k.tls }}{{ with .ca }}
kafka-{{ $name }}-ca.pem: {{ . | b64enc | quote }}
{{- end }}{{ end }}
{{- end }}
{{- range $name, $g := .Values.kong }}
{{- if $g.auth }}
kong-{{ $name }}-token: {{ $g.token | default "" | b64enc | quote }}
{{- end }}
{{- with $g.tls }}{{ with .ca }}
kong-{{ $name }}-ca.pem: {{ . | b64enc | quote }}
{{- end }}{{ end }}
{{- end }}
{{- if .Values.webhooks.github.enabled }}
webhook-github: {{ .Values.webhooks.github.secret | default "" | b64enc | quote }}
{{- end }}
{{- if .Values.webhooks.gitea.enabled }}
webhook-gitea: {{ .Values.webhooks.gitea.secret | default "" | b64enc | quote }}
{{- end }}
{{- end -}}
