#!/usr/bin/env bash
# End to end on a real cluster: kind, cert-manager, KServe, Kubeflow Pipelines, then this
# project deployed, trained, scored and called. The e2e-kind CI job runs it (Docker-in-
# Docker); on a laptop with Docker: `make e2e-kind` (KEEP_CLUSTER=1 keeps the cluster).
#
# Steps:
#   1. tools: kind and the Docker CLI (fetched, pinned, into .tools/bin when missing),
#      helm and kubectl (scripts/ensure-k8s-tools.sh);
#   2. a kind cluster; cert-manager, KServe (Standard mode) and Kubeflow Pipelines
#      (standalone, with its MinIO) from their release manifests, versions pinned below;
#   3. PostgreSQL with the demo database (customer-classifier data generate), the Secrets;
#   4. the serving and components images, built here and loaded into the nodes;
#   5. the pipeline runs' ServiceAccount, RBAC and ConfigMap of the dev overlay in
#      `kubeflow`, where standalone KFP runs every pipeline;
#   6. the training and the scoring pipelines through the KFP API (make submit's code),
#      each waited for and judged; the predictions table must hold rows;
#   7. make deploy ENV=dev (overlay + chart, pinned to the image built here), once a
#      champion exists, then the endpoint: make smoke ENV=dev (one prediction).
# Summaries and logs go to build/e2e-kind/. The cluster is deleted at the end unless
# KEEP_CLUSTER=1.
#
# Pinned versions (override from the environment; bump them together):
#   KIND_VERSION, KIND_NODE_IMAGE, DOCKER_CLI_VERSION, CERT_MANAGER_VERSION,
#   KSERVE_VERSION, KFP_VERSION
# Other knobs:
#   CLUSTER_NAME      kind cluster (default customer-classifier-e2e)
#   KIND_API_HOST     where the API server is reached: 127.0.0.1 (default), or the
#                     Docker-in-Docker service's host name in CI (docker)
#   E2E_CUSTOMERS     customers of the demo database (default 3000: a small run)
#   RUN_TIMEOUT_S     deadline of each pipeline run (default 2400)
#   KEEP_CLUSTER      1 keeps the cluster for a look afterwards
set -euo pipefail

KIND_VERSION="${KIND_VERSION:-v0.30.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0}"
DOCKER_CLI_VERSION="${DOCKER_CLI_VERSION:-28.3.3}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.18.2}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KFP_VERSION="${KFP_VERSION:-2.5.0}"
CLUSTER_NAME="${CLUSTER_NAME:-customer-classifier-e2e}"
KIND_API_HOST="${KIND_API_HOST:-127.0.0.1}"
E2E_CUSTOMERS="${E2E_CUSTOMERS:-3000}"
RUN_TIMEOUT_S="${RUN_TIMEOUT_S:-2400}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="build/e2e-kind"
TOOLS="$ROOT/.tools/bin"
PY="$ROOT/.venv/bin/python"
NS="ml-dev"
KFP_NS="kubeflow"
TAG="e2e-$(git rev-parse --short=12 HEAD 2>/dev/null || echo local)"
mkdir -p "$OUT" "$TOOLS"
export PATH="$TOOLS:$PATH"
export KUBECONFIG="$ROOT/$OUT/kubeconfig"

log() { echo "e2e-kind: $*" >&2; }

# Try a command a few times: webhooks and CRDs take a moment after their Deployments.
retry() {
    local attempts="$1" n=1
    shift
    until "$@"; do
        if ((n >= attempts)); then
            log "gave up after $attempts tries: $*"
            return 1
        fi
        n=$((n + 1))
        sleep 10
    done
}

arch() {
    case "$(uname -m)" in
        x86_64 | amd64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        *)
            log "unsupported machine $(uname -m)"
            exit 1
            ;;
    esac
}

ensure_tools() {
    if ! command -v docker >/dev/null 2>&1; then
        local machine
        machine="$(uname -m)"
        log "fetching the Docker CLI $DOCKER_CLI_VERSION"
        curl -fsSL "https://download.docker.com/linux/static/stable/$machine/docker-$DOCKER_CLI_VERSION.tgz" |
            tar -xz -C "$TOOLS" --strip-components=1 docker/docker
    fi
    if ! command -v kind >/dev/null 2>&1 || [[ "$(kind version -q 2>/dev/null)" != "$KIND_VERSION" ]]; then
        log "fetching kind $KIND_VERSION"
        curl -fsSL -o "$TOOLS/kind" "https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-$(arch)"
        chmod +x "$TOOLS/kind"
    fi
    bash scripts/ensure-k8s-tools.sh >/dev/null
    docker version >/dev/null
}

create_cluster() {
    log "creating kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
    local address="127.0.0.1"
    [[ "$KIND_API_HOST" != 127.0.0.1 ]] && address="0.0.0.0"
    cat >"$OUT/kind.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  apiServerAddress: "$address"
nodes:
  - role: control-plane
    kubeadmConfigPatches:
      - |
        kind: ClusterConfiguration
        apiServer:
          certSANs: ["$KIND_API_HOST", "127.0.0.1", "localhost"]
YAML
    kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
        --config "$OUT/kind.yaml" --kubeconfig "$KUBECONFIG" --wait 5m
    if [[ "$KIND_API_HOST" != 127.0.0.1 ]]; then
        # The API server's port is published on the Docker host, not on this loopback.
        sed -i -E "s#server: https://(0\.0\.0\.0|127\.0\.0\.1):#server: https://$KIND_API_HOST:#" "$KUBECONFIG"
    fi
    kubectl cluster-info
}

install_platform() {
    log "cert-manager $CERT_MANAGER_VERSION"
    kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
    kubectl wait --namespace cert-manager --for=condition=Available deployment --all --timeout=5m

    log "KServe $KSERVE_VERSION (Standard mode)"
    retry 6 kubectl apply --server-side --force-conflicts \
        -f "https://github.com/kserve/kserve/releases/download/$KSERVE_VERSION/kserve.yaml"
    kubectl wait --namespace kserve --for=condition=Available deployment --all --timeout=10m
    retry 6 kubectl apply --server-side --force-conflicts \
        -f "https://github.com/kserve/kserve/releases/download/$KSERVE_VERSION/kserve-cluster-resources.yaml"

    log "Kubeflow Pipelines $KFP_VERSION (standalone)"
    kubectl apply -k "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=$KFP_VERSION"
    kubectl wait --for=condition=Established --timeout=2m crd/applications.app.k8s.io
    retry 3 kubectl apply -k "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=$KFP_VERSION"
    kubectl wait --namespace "$KFP_NS" --for=condition=Available deployment --all --timeout=20m
}

# A local port forwarded to a Service; prints the port, leaves the forward running.
forward() {
    local namespace="$1" target="$2" remote="$3" port
    port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    kubectl port-forward --namespace "$namespace" "$target" "$port:$remote" >>"$OUT/port-forward.log" 2>&1 &
    FORWARDS+=("$!")
    local deadline=$((SECONDS + 60))
    until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ((SECONDS > deadline)); then
            log "port-forward to $namespace/$target did not listen within 60 s"
            return 1
        fi
        sleep 1
    done
    echo "$port"
}

database_and_secrets() {
    log "PostgreSQL with the demo database, and the Secrets"
    kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
    local password
    password="$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
    kubectl create secret generic cc-postgres --namespace "$KFP_NS" \
        --from-literal=POSTGRES_PASSWORD="$password" --dry-run=client -o yaml | kubectl apply -f -
    kubectl apply --namespace "$KFP_NS" -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cc-postgres
spec:
  selector:
    matchLabels: {app: cc-postgres}
  template:
    metadata:
      labels: {app: cc-postgres}
    spec:
      containers:
        - name: postgres
          image: postgres:16.10-bookworm
          envFrom:
            - secretRef: {name: cc-postgres}
          ports:
            - containerPort: 5432
          readinessProbe:
            exec: {command: [pg_isready, -U, postgres]}
---
apiVersion: v1
kind: Service
metadata:
  name: cc-postgres
spec:
  selector: {app: cc-postgres}
  ports:
    - port: 5432
YAML
    kubectl wait --namespace "$KFP_NS" --for=condition=Available deployment/cc-postgres --timeout=5m
    local port
    port="$(forward "$KFP_NS" svc/cc-postgres 5432)"
    E2E_DATABASE_URL="postgresql+psycopg://postgres:$password@127.0.0.1:$port/postgres"
    "$ROOT/.venv/bin/customer-classifier" data generate --customers "$E2E_CUSTOMERS" \
        --database-url "$E2E_DATABASE_URL" >"$OUT/generate.json"

    local in_cluster="postgresql+psycopg://postgres:$password@cc-postgres.$KFP_NS.svc:5432/postgres"
    local access secret
    access="$(kubectl get secret mlpipeline-minio-artifact -n "$KFP_NS" -o jsonpath='{.data.accesskey}' | base64 -d)"
    secret="$(kubectl get secret mlpipeline-minio-artifact -n "$KFP_NS" -o jsonpath='{.data.secretkey}' | base64 -d)"
    for namespace in "$NS" "$KFP_NS"; do
        kubectl create secret generic customer-classifier-database --namespace "$namespace" \
            --from-literal=url="$in_cluster" --dry-run=client -o yaml | kubectl apply -f -
        kubectl create secret generic customer-classifier-store --namespace "$namespace" \
            --from-literal=AWS_ACCESS_KEY_ID="$access" --from-literal=AWS_SECRET_ACCESS_KEY="$secret" \
            --dry-run=client -o yaml | kubectl apply -f -
        kubectl annotate secret customer-classifier-store --namespace "$namespace" --overwrite \
            serving.kserve.io/s3-endpoint="minio-service.$KFP_NS:9000" serving.kserve.io/s3-usehttps=0
    done
}

images() {
    log "building and loading the serving and components images ($TAG)"
    local image
    for image in serving components; do
        docker build -f "images/$image.Dockerfile" --build-arg "CC_RUN__CODE_VERSION=$TAG" \
            -t "cc-e2e/$image:$TAG" .
        kind load docker-image --name "$CLUSTER_NAME" "cc-e2e/$image:$TAG"
    done
}

pipeline_objects() {
    # Standalone KFP runs every pipeline in its own namespace: the runs' ServiceAccount,
    # Role, RoleBinding and ConfigMap of the dev overlay go there too (namespace changed).
    log "the pipeline runs' ServiceAccount, RBAC and ConfigMap in $KFP_NS"
    kubectl kustomize manifests/overlays/dev | "$PY" -c '
import sys, yaml
keep = {"ServiceAccount", "Role", "RoleBinding", "ConfigMap"}
out = []
for doc in yaml.safe_load_all(sys.stdin):
    if not doc or doc["kind"] not in keep or doc["metadata"]["name"] == "kfp-launcher":
        continue
    if doc["kind"] == "ServiceAccount" and "pipeline" not in doc["metadata"]["name"]:
        continue
    doc["metadata"]["namespace"] = sys.argv[1]
    for subject in doc.get("subjects", []):
        subject["namespace"] = sys.argv[1]
    out.append(doc)
yaml.safe_dump_all(out, sys.stdout)
' "$KFP_NS" | kubectl apply -f -
}

deploy() {
    # After training: the predictor turns ready only once a champion exists, and helm's
    # --rollback-on-failure would undo a release that does not.
    log "make deploy ENV=dev, pinned to the images built here"
    make deploy ENV=dev HELM_ARGS="--set image.repository=cc-e2e/serving --set image.tag=$TAG \
--set kserveVersion=${KSERVE_VERSION#v}"
}

pipelines() {
    log "training, then scoring, through the KFP API"
    local port
    port="$(forward "$KFP_NS" svc/ml-pipeline 8888)"
    export CC_KFP__HOST="http://127.0.0.1:$port" CC_KFP__NAMESPACE="$KFP_NS"
    export CC_IMAGES__COMPONENTS="cc-e2e/components:$TAG"
    for pipeline in training scoring; do
        "$PY" scripts/ci/run_pipeline.py --env dev --pipeline "$pipeline" \
            --timeout-s "$RUN_TIMEOUT_S" --poll-s 10 --summary "$OUT/$pipeline.json"
    done
    "$PY" - "$E2E_DATABASE_URL" <<'PY' | tee "$OUT/predictions.json"
import json, sys
import sqlalchemy as sa
engine = sa.create_engine(sys.argv[1])
with engine.connect() as conn:
    rows = conn.execute(sa.text("SELECT count(*), count(DISTINCT model_version) FROM customer_predictions")).one()
print(json.dumps({"rows": rows[0], "model_versions": rows[1]}))
if rows[0] == 0:
    sys.exit("e2e-kind: the scoring run wrote no predictions")
PY
}

FORWARDS=()
cleanup() {
    local status=$?
    for pid in "${FORWARDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -f "$KUBECONFIG" ]]; then
        kubectl get pods -A -o wide >"$OUT/pods.txt" 2>&1 || true
        kubectl get events -A --sort-by=.lastTimestamp >"$OUT/events.txt" 2>&1 || true
    fi
    if [[ "$KEEP_CLUSTER" != 1 ]]; then
        kind delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
    else
        log "kept the cluster: KUBECONFIG=$KUBECONFIG; kind delete cluster --name $CLUSTER_NAME"
    fi
    exit "$status"
}

main() {
    ensure_tools
    trap cleanup EXIT
    create_cluster
    install_platform
    database_and_secrets
    images
    pipeline_objects
    pipelines
    deploy
    log "the endpoint"
    KUBECTL="$TOOLS/kubectl" make smoke ENV=dev | tee "$OUT/smoke.txt"
    log "passed"
}

main "$@"
