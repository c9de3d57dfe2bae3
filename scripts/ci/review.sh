#!/usr/bin/env bash
# A merge request's review environment: the dev overlay and the chart in a namespace of its own.
#
# Usage: review.sh deploy NAMESPACE | review.sh stop NAMESPACE
#
# deploy: a kustomization under build/review/ puts manifests/overlays/dev into NAMESPACE
# (kustomize renames the Namespace object and every namespaced reference with it), applies
# it, then installs the chart there with values-dev.yaml and HELM_ARGS (CI passes the
# serving image's digest). The namespace is labelled with the merge request so a stray
# one can be found. stop: uninstalls the release and deletes the namespace; stopping one
# that is gone succeeds. NAMESPACE must start with ml-review- so that a mistyped variable
# can never point this at ml-dev, ml-test or ml-prod.
set -euo pipefail

if [[ $# -ne 2 || ( "$1" != deploy && "$1" != stop ) ]]; then
    echo "review: usage: review.sh deploy|stop NAMESPACE (ml-review-<merge request iid>)" >&2
    exit 2
fi
action="$1"
namespace="$2"
if [[ ! "$namespace" =~ ^ml-review-[a-z0-9-]{1,40}$ ]]; then
    echo "review: namespace '$namespace' is not a review namespace; use ml-review-<iid>," \
        "e.g. ml-review-\$CI_MERGE_REQUEST_IID" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
tools="$(bash scripts/ensure-k8s-tools.sh)"
kubectl="$tools/kubectl"
helm="$tools/helm"
release="customer-classifier"

if [[ "$action" == stop ]]; then
    "$helm" uninstall "$release" --namespace "$namespace" --ignore-not-found --wait
    "$kubectl" delete namespace "$namespace" --ignore-not-found
    exit 0
fi

folder="build/review/$namespace"
mkdir -p "$folder"
cat >"$folder/kustomization.yaml" <<YAML
# Written by scripts/ci/review.sh; the dev overlay in the review namespace.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
labels:
  - pairs:
      environment: review
    includeSelectors: false
resources:
  - ../../../manifests/overlays/dev
YAML
"$kubectl" apply -k "$folder"
if [[ -n "${CI_MERGE_REQUEST_IID:-}" ]]; then
    "$kubectl" label namespace "$namespace" --overwrite \
        "gitlab.com/merge-request=${CI_MERGE_REQUEST_IID}"
fi
# HELM_ARGS: extra flags from the job (word-split on purpose: --set a=b --set c=d).
# shellcheck disable=SC2086
"$helm" upgrade --install "$release" helm/customer-classifier --namespace "$namespace" \
    --values helm/customer-classifier/values-dev.yaml --rollback-on-failure \
    --timeout "${DEPLOY_TIMEOUT:-10m}" ${HELM_ARGS:-}
