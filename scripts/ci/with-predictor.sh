#!/usr/bin/env bash
# Run a command against a deployed predictor: COMMAND... --url http://127.0.0.1:PORT
#
# Usage: with-predictor.sh NAMESPACE COMMAND [ARG...]
#
# Waits for the InferenceService to be Ready, port-forwards to one of its running
# predictor pods (unless PREDICTOR_URL names an address the runner reaches), waits until
# the model answers ready, then runs COMMAND with `--url URL` appended and returns its
# exit status. The load-test job uses it; ISVC_NAME, SMOKE_TIMEOUT and KUBECTL as in smoke.sh.
set -euo pipefail

if [[ $# -lt 2 || -z "$1" ]]; then
    echo "with-predictor: usage: with-predictor.sh NAMESPACE COMMAND [ARG...]" >&2
    exit 2
fi
namespace="$1"
shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
name="${ISVC_NAME:-customer-classifier}"
kubectl="${KUBECTL:-$root/.tools/bin/kubectl}"

"$kubectl" wait --namespace "$namespace" --for=condition=Ready \
    --timeout="${SMOKE_TIMEOUT:-600s}" "inferenceservice/$name"
url="${PREDICTOR_URL:-}"
if [[ -z "$url" ]]; then
    pod="$("$kubectl" get pods --namespace "$namespace" --field-selector=status.phase=Running \
        -l "serving.kserve.io/inferenceservice=$name,component=predictor" \
        -o jsonpath='{.items[0].metadata.name}')"
    if [[ -z "$pod" ]]; then
        echo "with-predictor: no running predictor pod of $name in $namespace" >&2
        exit 1
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$kubectl" port-forward --namespace "$namespace" "pod/$pod" "$port:8080" >/dev/null &
    forward=$!
    trap 'kill "$forward" 2>/dev/null || true' EXIT
    url="http://127.0.0.1:$port"
fi
deadline=$((SECONDS + 60))
until curl -fsS "$url/v2/models/$name/ready" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
        echo "with-predictor: $url/v2/models/$name/ready did not answer 200 within 60 s" >&2
        exit 1
    fi
    sleep 1
done
"$@" --url "$url"
