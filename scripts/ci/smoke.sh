#!/usr/bin/env bash
# Smoke test of a deployed predictor: ready, then one V1 prediction that makes sense.
#
# Usage: smoke.sh NAMESPACE [--url URL]
#
# Without --url it goes through with-predictor.sh (wait for the InferenceService to be
# Ready, port-forward to a predictor pod unless PREDICTOR_URL is set, wait for the model),
# which calls it back with --url. The answer to scripts/ci/smoke-record.json must be one
# prediction with a score from 0 to 1, a label good or bad and a model version. Used by
# the review, deploy-dev, deploy-test and e2e-kind jobs (make smoke ENV=... or NAMESPACE=...).
#
#   PREDICTOR_URL    base URL of the predictor the runner reaches (default: a port-forward)
#   SMOKE_TIMEOUT    how long the InferenceService may take to be Ready (default 600s)
#   ISVC_NAME        the InferenceService (default customer-classifier)
#   KUBECTL          kubectl to use (default .tools/bin/kubectl, from ensure-k8s-tools.sh)
set -euo pipefail

if [[ $# -ne 1 && ! ($# -eq 3 && "$2" == --url) ]] || [[ -z "$1" ]]; then
    echo "smoke: usage: smoke.sh NAMESPACE [--url URL] (e.g. smoke.sh ml-dev)" >&2
    exit 2
fi
namespace="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
name="${ISVC_NAME:-customer-classifier}"
record="$root/scripts/ci/smoke-record.json"
if [[ $# -eq 1 ]]; then
    exec bash "$root/scripts/ci/with-predictor.sh" "$namespace" bash "$0" "$namespace"
fi
url="$3"

answer="$(curl -fsS "$url/v1/models/$name:predict" -H 'Content-Type: application/json' \
    --data-binary "@$record")"
python3 - "$answer" <<'PY'
import json
import sys

answer = json.loads(sys.argv[1])
predictions = answer.get("predictions") or []
problems = []
if len(predictions) != 1:
    problems.append(f"expected 1 prediction, got {len(predictions)}")
else:
    p = predictions[0]
    if not (isinstance(p.get("score"), float | int) and 0 <= p["score"] <= 1):
        problems.append(f"score {p.get('score')!r} is not a number from 0 to 1")
    if p.get("label") not in ("good", "bad"):
        problems.append(f"label {p.get('label')!r} is neither good nor bad")
    if not p.get("model_version"):
        problems.append("no model_version")
if problems:
    sys.exit("smoke: " + "; ".join(problems) + f": {answer}")
print(f"smoke: ok, {json.dumps(predictions[0])}")
PY
