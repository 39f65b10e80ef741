{{/*
Names, labels and the pieces every workload shares. The checks that fail a render (a secret
written inline in the config, a daemon without Redis, a cronjob ledger outside its volume) are
in "idsync.validate", included by the ConfigMap, which every mode renders.
*/}}

{{- define "idsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "idsync.fullname" -}}
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

{{- define "idsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; pass (dict "ctx" $ "component" "daemon"). */}}
{{- define "idsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idsync.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* Labels of every resource; pass (dict "ctx" $ "component" "daemon"), component optional. */}}
{{- define "idsync.labels" -}}
helm.sh/chart: {{ include "idsync.chart" .ctx }}
{{ include "idsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: idsync
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations (indented under metadata) of every resource, with extra ones; pass (dict "ctx" $ "extra" map). */}}
{{- define "idsync.annotations" -}}
{{- $all := merge (deepCopy (.extra | default dict)) (deepCopy (.ctx.Values.commonAnnotations | default dict)) -}}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "idsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "idsync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "idsync.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* The Secret whose keys are mounted as files under secretsMountPath. */}}
{{- define "idsync.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "idsync.fullname" .)) -}}
{{- end -}}

{{/* Where the config file is mounted, and the file itself. */}}
{{- define "idsync.configDir" -}}/etc/idsync/config{{- end -}}
{{- define "idsync.configFile" -}}{{ include "idsync.configDir" . }}/idsync.yaml{{- end -}}

{{/* The port idsync listens on: config.server.port (idsync's default 8080). */}}
{{- define "idsync.httpPort" -}}
{{- dig "server" "port" 8080 .Values.config | int -}}
{{- end -}}

{{/* The port of a URL, or the default given; pass (list "ldaps://dc:636" 636). */}}
{{- define "idsync.urlPort" -}}
{{- $url := index . 0 | toString -}}
{{- $host := (urlParse $url).host -}}
{{- $port := regexFind ":[0-9]+$" $host | trimPrefix ":" -}}
{{- $port | default (index . 1) -}}
{{- end -}}

{{/*
The config file as rendered: .Values.config; in cronjob mode without the daemon's keys (schedule,
redis, server) and with state.file pointing into the claim (the ledger must outlive the Job's pod).
*/}}
{{- define "idsync.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if eq .Values.mode "cronjob" -}}
{{- /* `idsync apply` ignores the daemon's keys; left out, their secret files need not exist either. */ -}}
{{- $cfg = omit $cfg "schedule" "redis" "server" -}}
{{- $state := dig "state" (dict) $cfg -}}
{{- if not (hasKey $state "file") -}}
{{- $_ := set $cfg "state" (merge (dict "file" (printf "%s/state.json" (trimSuffix "/" .Values.persistence.mountPath))) $state) -}}
{{- end -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Fails the render when a secret is written inline; pass (dict "path" "config" "value" .Values.config). */}}
{{- define "idsync.noInlineSecrets" -}}
{{- $path := .path -}}
{{- if kindIs "map" .value -}}
{{- range $k, $v := .value -}}
{{- $p := printf "%s.%s" $path $k -}}
{{- $isRef := and (kindIs "string" $v) (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" (toString $v)) -}}
{{- if and (regexMatch "(?i)(token|password|secret|privatekey|clientstate)$" $k) (not (kindIs "invalid" $v)) (not $isRef) -}}
{{- fail (printf "%s is a secret written inline in the config, which is a ConfigMap: put the value in secrets.* (or existingSecret) and set %sFile to its file under %s, or write ${VAR} and set VAR from a Secret with extraEnv" $p $p $.secretsMountPath) -}}
{{- end -}}
{{- include "idsync.noInlineSecrets" (dict "path" $p "value" $v "secretsMountPath" $.secretsMountPath) -}}
{{- end -}}
{{- else if kindIs "slice" .value -}}
{{- range $i, $v := .value -}}
{{- include "idsync.noInlineSecrets" (dict "path" (printf "%s[%d]" $path $i) "value" $v "secretsMountPath" $.secretsMountPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The files the chart itself mounts for Redis: pass the root context. */}}
{{- define "idsync.redisPasswordPath" -}}{{ trimSuffix "/" .Values.secretsMountPath }}/redisPassword{{- end -}}
{{- define "idsync.redisCaPath" -}}{{ trimSuffix "/" .Values.secretsMountPath }}/redisCa.crt{{- end -}}

{{/* True ("true") when the secrets volume also projects keys of other Secrets (Redis password, CA). */}}
{{- define "idsync.projectedSecrets" -}}
{{- if or .Values.redisPassword.existingSecret .Values.redisCa.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* The checks of config.redis (daemon mode). */}}
{{- define "idsync.validateRedis" -}}
{{- $redis := dig "redis" (dict) .Values.config | default (dict) -}}
{{- $url := $redis.url | default "" | toString -}}
{{- $pwFrom := or .Values.secrets.redisPassword .Values.redisPassword.existingSecret -}}
{{- $pwPath := include "idsync.redisPasswordPath" . -}}
{{- $caPath := include "idsync.redisCaPath" . -}}
{{- if not (or $url $redis.sentinels) -}}
{{- fail "mode daemon runs `idsync run`, which needs config.redis.url (or config.redis.sentinels with masterName): the queue, the run records and the ownership ledger live in Redis; or use mode: cronjob" -}}
{{- end -}}
{{- if regexMatch "^[a-z]+://[^@/]*:[^@/]+@" $url -}}
{{- fail (printf "config.redis.url holds a password, and the config is a ConfigMap: take it out of the URL, put it in secrets.redisPassword (or redisPassword.existingSecret) and set config.redis.passwordFile: %s" $pwPath) -}}
{{- end -}}
{{- if and .Values.secrets.redisPassword .Values.redisPassword.existingSecret -}}
{{- fail "secrets.redisPassword and redisPassword.existingSecret are both set: the password comes from one of them (each would be the file redisPassword)" -}}
{{- end -}}
{{- if and $pwFrom (not $redis.passwordFile) -}}
{{- fail (printf "%s is set, but config.redis.passwordFile is not: set it to %s" (ternary "secrets.redisPassword" "redisPassword.existingSecret" (not (empty .Values.secrets.redisPassword))) $pwPath) -}}
{{- end -}}
{{- range $key := list "passwordFile" "sentinelPasswordFile" -}}
{{- if and (eq (index $redis $key | default "" | toString) $pwPath) (not $pwFrom) (not $.Values.existingSecret) -}}
{{- fail (printf "config.redis.%s is %s: set secrets.redisPassword or redisPassword.existingSecret" $key $pwPath) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.redisCa.existingSecret (not $redis.caFile) -}}
{{- fail (printf "redisCa.existingSecret is set, but config.redis.caFile is not: set it to %s" $caPath) -}}
{{- end -}}
{{- if and (eq ($redis.caFile | default "" | toString) $caPath) (not .Values.redisCa.existingSecret) (not .Values.existingSecret) (not (hasKey (.Values.secrets.extra | default dict) "redisCa.crt")) -}}
{{- fail (printf "config.redis.caFile is %s: set redisCa.existingSecret (or secrets.extra with the key redisCa.crt)" $caPath) -}}
{{- end -}}
{{- end -}}

{{/* Every check that fails the render. */}}
{{- define "idsync.validate" -}}
{{- if not (has .Values.mode (list "daemon" "cronjob")) -}}
{{- fail (printf "mode must be daemon or cronjob, found %q" (toString .Values.mode)) -}}
{{- end -}}
{{- include "idsync.noInlineSecrets" (dict "path" "config" "value" .Values.config "secretsMountPath" .Values.secretsMountPath) -}}
{{- if .Values.existingSecret -}}
{{- range $k, $v := .Values.secrets -}}
{{- if $v -}}
{{- fail (printf "secrets.%s is set together with existingSecret %q: put the value in that Secret (key %s) instead" $k $.Values.existingSecret $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq .Values.mode "daemon" -}}
{{- include "idsync.validateRedis" . -}}
{{- $host := dig "server" "host" "0.0.0.0" .Values.config | toString -}}
{{- if not (has $host (list "0.0.0.0" "::")) -}}
{{- fail (printf "config.server.host is %q: in a pod idsync must listen on 0.0.0.0 (or ::) for the probes and the Service to reach it" $host) -}}
{{- end -}}
{{- else -}}
{{- $file := dig "state" "file" "" .Values.config | toString -}}
{{- $mount := trimSuffix "/" .Values.persistence.mountPath -}}
{{- if and $file (not (hasPrefix (printf "%s/" $mount) $file)) -}}
{{- fail (printf "mode cronjob keeps the ownership ledger on the claim at persistence.mountPath (%s), but config.state.file is %q: leave it unset or put it under %s/" $mount $file $mount) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations: a change of the config or of the chart's Secret rolls the pods. */}}
{{- define "idsync.podAnnotations" -}}
checksum/config: {{ include "idsync.config" . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ toJson .Values.secrets | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Environment of every idsync container. */}}
{{- define "idsync.env" -}}
- name: IDSYNC_CONFIG
  value: {{ include "idsync.configFile" . | quote }}
- name: IDSYNC_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volume mounts of every idsync container. */}}
{{- define "idsync.volumeMounts" -}}
- name: config
  mountPath: {{ include "idsync.configDir" . }}
  readOnly: true
- name: secrets
  mountPath: {{ .Values.secretsMountPath }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes of every idsync pod. */}}
{{- define "idsync.volumes" -}}
- name: config
  configMap:
    name: {{ include "idsync.fullname" . }}
    items:
      - key: idsync.yaml
        path: idsync.yaml
- name: secrets
{{- if include "idsync.projectedSecrets" . }}
  # The chart's Secret (or existingSecret), with the Redis password and CA from their own Secrets.
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "idsync.secretName" . }}
      {{- with .Values.redisPassword.existingSecret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ $.Values.redisPassword.key }}
              path: redisPassword
      {{- end }}
      {{- with .Values.redisCa.existingSecret }}
      - secret:
          name: {{ . }}
          items:
            - key: {{ $.Values.redisCa.key }}
              path: redisCa.crt
      {{- end }}
{{- else }}
  secret:
    secretName: {{ include "idsync.secretName" . }}
    defaultMode: 0440
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec fields every workload shares (scheduling, identity, security). */}}
{{- define "idsync.podCommon" -}}
serviceAccountName: {{ include "idsync.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* affinity: the given one, else the anti-affinity preset; pass (dict "ctx" $ "component" "daemon"). */}}
{{- define "idsync.affinity" -}}
{{- if .ctx.Values.affinity -}}
affinity:
  {{- toYaml .ctx.Values.affinity | nindent 2 }}
{{- else if eq .ctx.Values.podAntiAffinityPreset "soft" -}}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "idsync.selectorLabels" . | nindent 14 }}
{{- else if eq .ctx.Values.podAntiAffinityPreset "hard" -}}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "idsync.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end -}}
