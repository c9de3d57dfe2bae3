# The image Kubeflow Pipelines runs the lightweight components of pipelines/ in.
#
# It holds the customer_classifier package and its locked runtime dependencies (kfp
# among them, which lightweight components import at start-up), and nothing for
# development: no compilers, no test tools. Build from the repository root:
#
#   docker build -f images/components.Dockerfile \
#       --build-arg CC_RUN__CODE_VERSION="$(git rev-parse --short=12 HEAD)" -t IMAGE:TAG .
#
# CC_RUN__CODE_VERSION is recorded in every model version the image trains.

FROM python:3.11.14-slim-bookworm

ARG CC_RUN__CODE_VERSION=unknown

LABEL org.opencontainers.image.title="customer-classifier-components" \
      org.opencontainers.image.description="Kubeflow Pipelines components of the customer classifier: verify, ingest, features, train, register, score" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${CC_RUN__CODE_VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/app \
    CC_RUN__CODE_VERSION=${CC_RUN__CODE_VERSION}

# A numeric, unprivileged user; its home and the work directory are the only writable
# places the components need (settings default to paths relative to the work dir).
RUN groupadd --gid 10001 app \
    && useradd --no-log-init --create-home --home-dir /home/app \
        --uid 10001 --gid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /workspace \
    && chown 10001:10001 /workspace

WORKDIR /opt/customer-classifier
COPY pyproject.toml requirements.lock README.md ./
COPY src/ src/
# The package with the exact dependency versions the tests ran against.
RUN pip install --no-cache-dir pip==25.3 \
    && pip install --no-cache-dir -c requirements.lock . \
    && python -c "import customer_classifier, kfp"

WORKDIR /workspace
USER 10001:10001
