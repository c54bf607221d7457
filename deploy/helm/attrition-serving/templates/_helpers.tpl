{{/*
Names, labels and the few computed values every template shares.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "attrition-serving.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every resource: fullnameOverride, else "<release>-<chart>" (just the release name
when it already contains the chart name), cut to the 63 characters of a DNS label.
*/}}
{{- define "attrition-serving.fullname" -}}
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

{{/* "chart-version" for the helm.sh/chart label. */}}
{{- define "attrition-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: immutable once a Deployment exists, so only name, instance and component
(never the version) are in them.
*/}}
{{- define "attrition-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attrition-serving.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: serving
{{- end }}

{{/* Labels of every resource. */}}
{{- define "attrition-serving.labels" -}}
helm.sh/chart: {{ include "attrition-serving.chart" . }}
{{ include "attrition-serving.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: attrition-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "attrition-serving.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "attrition-serving.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "attrition-serving.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The container port's name, which probes, Service, Ingress and ServiceMonitor refer to. */}}
{{- define "attrition-serving.portName" -}}
{{- if .Values.podTls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{- define "attrition-serving.scheme" -}}
{{- if .Values.podTls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/*
The service's drain timeout on SIGTERM: serving/server.py GRACEFUL_SECONDS (uvicorn's
timeout_graceful_shutdown). Not a value: the code decides it; the chart test reads
GRACEFUL_SECONDS and fails if the grace period no longer covers it.
*/}}
{{- define "attrition-serving.drainSeconds" -}}
20
{{- end }}

{{/* preStop sleep + drain + margin: SIGKILL only after the ALB has let go and requests drained. */}}
{{- define "attrition-serving.terminationGracePeriodSeconds" -}}
{{- add .Values.shutdown.preStopSleepSeconds (include "attrition-serving.drainSeconds" . | atoi) .Values.shutdown.extraGraceSeconds }}
{{- end }}

{{/* Whether the HPA renders: KEDA creates and owns its own HPA, so never both. */}}
{{- define "attrition-serving.hpaEnabled" -}}
{{- if and .Values.autoscaling.enabled (not .Values.keda.enabled) }}true{{ end }}
{{- end }}

{{/* Whether some autoscaler owns the replica count (then the Deployment leaves it out). */}}
{{- define "attrition-serving.autoscaled" -}}
{{- if or .Values.autoscaling.enabled .Values.keda.enabled }}true{{ end }}
{{- end }}

{{- define "attrition-serving.vaultAgent" -}}
{{- if and .Values.vault.enabled (eq .Values.vault.mode "agent") }}true{{ end }}
{{- end }}

{{- define "attrition-serving.vaultClient" -}}
{{- if and .Values.vault.enabled (eq .Values.vault.mode "client") }}true{{ end }}
{{- end }}

{{/* Where the Vault Agent writes the rendered secret file (the injector's shared volume). */}}
{{- define "attrition-serving.vaultEnvFile" -}}
/vault/secrets/attrition.env
{{- end }}

{{/*
The Vault Agent (consul-template) template of that file: one `export` per key of the KV v2
secret. aws_access_key_id / aws_secret_access_key / aws_session_token become the AWS_*
variables (as the service's own Vault client maps them); every other key becomes
ATTRITION_SECRET_<KEY>, which the service's EnvSecrets reads. Values are single-quoted with
embedded quotes escaped, so a PEM key survives the shell intact.
*/}}
{{- define "attrition-serving.vaultTemplate" -}}
{{- $path := printf "%s/data/%s" .Values.vault.kvMount .Values.vault.secretPath -}}
{{ printf "{{- with secret %q -}}" $path }}
{{ `{{- range $k, $v := .Data.data }}
{{- if $k | regexMatch "^aws_(access_key_id|secret_access_key|session_token)$" }}
export {{ $k | toUpper }}='{{ printf "%v" $v | replaceAll "'" "'\\''" }}'
{{- else }}
export ATTRITION_SECRET_{{ $k | toUpper }}='{{ printf "%v" $v | replaceAll "'" "'\\''" }}'
{{- end }}
{{- end }}
{{- end }}` }}
{{- end }}

{{/*
The ConfigMap's data: the service's environment. Whole numbers go through int64 first: Helm
reads values files as JSON numbers (float64), and toString of 1048576.0 is "1.048576e+06",
which the service's int() refuses. Empty strings are left out so the service's
own default applies. Sorted by key (toYaml of a dict), so the checksum changes only when a
value does.
*/}}
{{- define "attrition-serving.configData" -}}
{{- $c := .Values.config -}}
{{- $env := dict
  "ATTRITION_ENV" $c.environment
  "ATTRITION_HOME" $c.home
  "ATTRITION_SERVING_URI" $c.servingUri
  "ATTRITION_LAKE_URI" $c.lakeUri
  "ATTRITION_LOG_LEVEL" $c.logLevel
  "ATTRITION_SERVING_HOST" "0.0.0.0"
  "ATTRITION_SERVING_PORT" (int64 .Values.containerPort | toString)
  "ATTRITION_SERVING_POLL_SECONDS" (toString $c.pollSeconds)
  "ATTRITION_FALLBACK_AFTER_SECONDS" (toString $c.fallbackAfterSeconds)
  "ATTRITION_SERVING_ERROR_STREAK" (int64 $c.errorStreak | toString)
  "ATTRITION_BATCH_MAX" (int64 $c.batchMax | toString)
  "ATTRITION_MAX_BODY_BYTES" (int64 $c.maxBodyBytes | toString)
  "ATTRITION_TOP_FACTORS" (int64 $c.topFactors | toString)
  "ATTRITION_SHAP_TABLE_MB" (int64 $c.shapTableMb | toString)
  "OMP_NUM_THREADS" (int64 $c.ompNumThreads | toString)
  "ATTRITION_AUDIT_QUEUE_SIZE" (int64 $c.audit.queueSize | toString)
  "ATTRITION_AUDIT_BATCH_SIZE" (int64 $c.audit.batchSize | toString)
  "ATTRITION_AUDIT_FLUSH_SECONDS" (toString $c.audit.flushSeconds)
  "ATTRITION_AUTH_ISSUER" $c.auth.issuer
  "ATTRITION_AUTH_AUDIENCE" $c.auth.audience
  "ATTRITION_AUTH_JWKS_URL" $c.auth.jwksUrl
  "ATTRITION_AUTH_LEEWAY_SECONDS" (int64 $c.auth.leewaySeconds | toString)
  "ATTRITION_AUTH_JWKS_COOLDOWN_SECONDS" (toString $c.auth.jwksCooldownSeconds)
  "ATTRITION_AUTH_JWKS_LIFESPAN_SECONDS" (toString $c.auth.jwksLifespanSeconds)
  "ATTRITION_AUTH_JWKS_TIMEOUT_SECONDS" (toString $c.auth.jwksTimeoutSeconds)
  "ATTRITION_AUTH_TOKEN_CACHE_SECONDS" (toString $c.auth.tokenCacheSeconds)
  "ATTRITION_AUTH_TOKEN_CACHE_SIZE" (int64 $c.auth.tokenCacheSize | toString)
  "AWS_REGION" $c.aws.region
  "AWS_ENDPOINT_URL" $c.aws.endpointUrl
-}}
{{- if .Values.podTls.enabled }}
{{- $_ := set $env "ATTRITION_TLS_CERT" "/etc/attrition/tls/tls.crt" }}
{{- $_ := set $env "ATTRITION_TLS_KEY" "/etc/attrition/tls/tls.key" }}
{{- end }}
{{- if include "attrition-serving.vaultClient" . }}
{{- $_ := set $env "VAULT_ADDR" .Values.vault.address }}
{{- $_ := set $env "VAULT_AUTH_METHOD" "kubernetes" }}
{{- $_ := set $env "VAULT_K8S_ROLE" .Values.vault.role }}
{{- $_ := set $env "VAULT_K8S_MOUNT" .Values.vault.authMount }}
{{- $_ := set $env "VAULT_KV_MOUNT" .Values.vault.kvMount }}
{{- $_ := set $env "VAULT_SECRET_PATH" .Values.vault.secretPath }}
{{- $_ := set $env "VAULT_NAMESPACE" .Values.vault.namespace }}
{{- $_ := set $env "ATTRITION_SECRET_TTL_SECONDS" (toString .Values.vault.secretTtlSeconds) }}
{{- if .Values.vault.caCertSecret }}
{{- $_ := set $env "VAULT_CACERT" "/etc/attrition/vault-ca/ca.crt" }}
{{- end }}
{{- end }}
{{- range $k, $v := .Values.extraEnv }}
{{- $_ := set $env $k $v }}
{{- end }}
{{- range $k, $v := $env }}
{{- if ne (toString $v) "" }}
{{ $k }}: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- end }}
