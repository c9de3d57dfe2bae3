{{/*
Helpers of the serving half: image, names, storage URIs, the predictor's environment and
security context, and the predictor spec that the stable and the canary predictor share.
*/}}

{{/* The InferenceService's name, which is also the model name in the URLs. */}}
{{- define "customer-classifier.isvcName" -}}
{{- include "customer-classifier.fullname" . -}}
{{- end -}}

{{- define "customer-classifier.runtimeName" -}}
{{- include "customer-classifier.fullname" . -}}
{{- end -}}

{{- define "customer-classifier.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "customer-classifier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "customer-classifier.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the predictor runs as" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A registry version id as a DNS label (the predictor names' pattern). */}}
{{- define "customer-classifier.dnsLabel" -}}
{{- $name := . | lower | replace "_" "-" | replace "." "-" -}}
{{- if not (regexMatch "^[a-z]" $name) -}}
{{- $name = printf "v-%s" $name -}}
{{- end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "customer-classifier.stableName" -}}
{{- if .Values.predictor.name -}}
{{- .Values.predictor.name -}}
{{- else if .Values.model.version -}}
{{- include "customer-classifier.dnsLabel" .Values.model.version -}}
{{- else -}}
{{- print "champion" -}}
{{- end -}}
{{- end -}}

{{- define "customer-classifier.canaryName" -}}
{{- $name := default (include "customer-classifier.dnsLabel" .Values.canary.version) .Values.canary.name -}}
{{- if eq $name (include "customer-classifier.stableName" .) -}}
{{- fail (printf "canary.name %q equals the stable predictor's name: the canary needs its own name (set canary.name, or a canary.version other than model.version)" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* s3://bucket/prefix: the model store (CC_STORE_URI of the pipelines). */}}
{{- define "customer-classifier.storeUri" -}}
{{- $prefix := trimAll "/" .Values.model.prefix -}}
{{- if $prefix -}}
{{- printf "s3://%s/%s" .Values.model.bucket $prefix -}}
{{- else -}}
{{- printf "s3://%s" .Values.model.bucket -}}
{{- end -}}
{{- end -}}

{{/* One registry version: what the storage initializer copies to /mnt/models. Called
with (dict "root" $ "version" VERSION). */}}
{{- define "customer-classifier.versionUri" -}}
{{- printf "%s/versions/%s" (include "customer-classifier.storeUri" .root) .version -}}
{{- end -}}

{{/* "canary", "shadow" or "": the challenger the predictor itself routes to. */}}
{{- define "customer-classifier.inPredictorChallenger" -}}
{{- if and .Values.canary.version (eq .Values.canary.mode "predictor") -}}
canary
{{- else if .Values.shadow.version -}}
shadow
{{- end -}}
{{- end -}}

{{/* Whether KServe itself splits traffic to a canary. */}}
{{- define "customer-classifier.kserveCanary" -}}
{{- if and .Values.canary.version (eq .Values.canary.mode "kserve") -}}
true
{{- end -}}
{{- end -}}

{{/* "true" where KServe has spec.canary[] and spec.predictor.name (0.20 and later). */}}
{{- define "customer-classifier.hasCanaryList" -}}
{{- if semverCompare ">=0.20.0-0" .Values.kserveVersion -}}
true
{{- end -}}
{{- end -}}

{{/* The serving.kserve.io/deploymentMode annotation: Standard / Knative from KServe
0.16 on (which still reads the old names), RawDeployment / Serverless before. */}}
{{- define "customer-classifier.deploymentModeName" -}}
{{- $legacy := semverCompare "<0.16.0-0" .Values.kserveVersion -}}
{{- if eq .Values.deploymentMode "standard" -}}
{{- ternary "RawDeployment" "Standard" $legacy -}}
{{- else -}}
{{- ternary "Serverless" "Knative" $legacy -}}
{{- end -}}
{{- end -}}

{{/* Pod-level security context of the restricted Pod Security Standard; it covers the
containers KServe and Knative add (storage initializer, queue-proxy). Knative accepts it
only with its kubernetes.podspec-securitycontext feature (podSecurityContext.enabled). */}}
{{- define "customer-classifier.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "customer-classifier.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* A value as an environment variable's text: YAML numbers arrive as floats, and a
whole one is written without exponent or fraction (4194304, not 4.194304e+06). */}}
{{- define "customer-classifier.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* The CC_SERVING__* knobs of values.serving, by their settings names. */}}
{{- define "customer-classifier.servingEnv" -}}
{{- $names := dict "maxBatchRows" "MAX_BATCH_ROWS" "maxWaitMs" "MAX_WAIT_MS" "maxRequestRows" "MAX_REQUEST_ROWS" "maxBodyBytes" "MAX_BODY_BYTES" "shadowQueueBatches" "SHADOW_QUEUE_BATCHES" "reloadIntervalS" "RELOAD_INTERVAL_S" "verifyChecksums" "VERIFY_CHECKSUMS" "accessLog" "ACCESS_LOG" -}}
{{- range $key := keys .Values.serving | sortAlpha }}
- name: CC_SERVING__{{ get $names $key }}
  value: {{ include "customer-classifier.envValue" (get $.Values.serving $key) | quote }}
{{- end }}
{{- end -}}

{{/*
The predictor spec of one model version; the stable predictor and a Standard-mode canary
differ only in name, storageUri and the challenger variables. Called with
(dict "root" $ "name" NAME "storageUri" URI "champion" REF "challenger" REF
 "challengerMode" MODE "canaryPercent" PERCENT); empty ones are left out.
*/}}
{{- define "customer-classifier.predictorSpec" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $standard := eq $values.deploymentMode "standard" -}}
{{- if and $standard (include "customer-classifier.hasCanaryList" $root) }}
name: {{ .name }}
{{- end }}
serviceAccountName: {{ include "customer-classifier.serviceAccountName" $root }}
minReplicas: {{ $values.autoscaling.minReplicas }}
maxReplicas: {{ $values.autoscaling.maxReplicas }}
scaleMetric: {{ default (ternary "cpu" "concurrency" $standard) $values.autoscaling.scaleMetric }}
scaleTarget: {{ $values.autoscaling.scaleTarget }}
{{- if $standard }}
terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
{{- end }}
# Pod labels: the stable ones only, so a chart upgrade alone restarts no pod.
labels:
  {{- include "customer-classifier.selectorLabels" $root | nindent 2 }}
  app.kubernetes.io/part-of: customer-classifier
  app.kubernetes.io/component: predictor
  {{- with .version }}
  # The registry version these pods serve: the PodMonitor copies it to the
  # model_version label, by which the rollout compares canary and stable.
  customer-classifier/model-version: {{ . | quote }}
  {{- end }}
{{- if $values.podSecurityContext.enabled }}
securityContext:
  {{- include "customer-classifier.podSecurityContext" $root | nindent 2 }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
model:
  # The container KServe merges with the runtime's (required in spec.canary[]).
  name: kserve-container
  modelFormat:
    name: {{ $values.model.format }}
  runtime: {{ include "customer-classifier.runtimeName" $root }}
  storageUri: {{ .storageUri }}
  env:
    {{- include "customer-classifier.servingEnv" $root | trim | nindent 4 }}
    {{- with .champion }}
    - name: CC_SERVING__CHAMPION
      value: {{ . | quote }}
    {{- end }}
    {{- with .challenger }}
    - name: CC_SERVING__CHALLENGER
      value: {{ . | quote }}
    {{- end }}
    {{- with .challengerMode }}
    - name: CC_SERVING__CHALLENGER_MODE
      value: {{ . | quote }}
    {{- end }}
    {{- if eq (toString .challengerMode) "canary" }}
    - name: CC_SERVING__CANARY_PERCENT
      value: {{ include "customer-classifier.envValue" .canaryPercent | quote }}
    {{- end }}
  resources:
    {{- toYaml $values.resources | nindent 4 }}
  securityContext:
    {{- include "customer-classifier.containerSecurityContext" $root | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /v2/models/{{ include "customer-classifier.isvcName" $root }}/ready
      port: 8080
    periodSeconds: 5
    failureThreshold: 3
{{- end -}}

{{/* The labels KServe puts on every pod of this InferenceService's predictors (the
stable and the canary one): what the PodDisruptionBudget and NetworkPolicy select. */}}
{{- define "customer-classifier.predictorSelector" -}}
matchLabels:
  serving.kserve.io/inferenceservice: {{ include "customer-classifier.isvcName" . }}
  component: predictor
{{- end -}}
