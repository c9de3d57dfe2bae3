# The KServe predictor of the customer classifier (custom ServingRuntime image).
#
# Container contract (what a ServingRuntime / InferenceService passes to this image):
#   - entry point: python -m customer_classifier.serving, with KServe's model-server flags
#     (--model_name, --http_port, --grpc_port, ...) plus --model_dir;
#   - ports: 8080 HTTP (KServe V1 and V2 REST, /metrics), 8081 gRPC (V2);
#   - model: /mnt/models, where KServe's storage initializer puts storageUri: one registry
#     version folder (versions/<version>) or a whole model store (aliases resolved, hot
#     reload when the champion alias moves);
#   - every other setting: CC_SERVING__* variables (challenger, shadow/canary, batching,
#     limits), see src/customer_classifier/serving/config.py;
#   - readiness: /v2/models/NAME/ready (or /v1/models/NAME) turns 200 once the champion is
#     loaded; liveness: /v2/health/live.
# Build from the repository root:
#
#   docker build -f images/serving.Dockerfile \
#       --build-arg CC_RUN__CODE_VERSION="$(git rev-parse --short=12 HEAD)" -t IMAGE:TAG .
#
# It installs the whole package with its locked dependencies: a champion may be any
# candidate the training pipeline registers, the Keras one included.

FROM python:3.11.14-slim-bookworm

ARG CC_RUN__CODE_VERSION=unknown

LABEL org.opencontainers.image.title="customer-classifier-serving" \
      org.opencontainers.image.description="KServe predictor of the customer classifier: V1/V2 REST and gRPC, shadow and canary challenger, Prometheus metrics" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${CC_RUN__CODE_VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/app \
    CC_RUN__CODE_VERSION=${CC_RUN__CODE_VERSION} \
    CC_SERVING__MODEL_URI=/mnt/models

# A numeric, unprivileged user (KServe mounts /mnt/models read-only for any user).
RUN groupadd --gid 10001 app \
    && useradd --no-log-init --create-home --home-dir /home/app \
        --uid 10001 --gid 10001 --shell /usr/sbin/nologin app

WORKDIR /opt/customer-classifier
COPY pyproject.toml requirements.lock README.md ./
COPY src/ src/
# The package with the exact dependency versions the tests ran against; the import
# check fails the build if the predictor cannot start.
RUN pip install --no-cache-dir pip==25.3 \
    && pip install --no-cache-dir -c requirements.lock . \
    && python -c "import customer_classifier.serving.predictor, kserve"

WORKDIR /home/app
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "customer_classifier.serving"]
CMD ["--model_dir", "/mnt/models", "--http_port", "8080", "--grpc_port", "8081"]
