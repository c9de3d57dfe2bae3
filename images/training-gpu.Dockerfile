# The image the Keras candidate trains in on a GPU node: the training pipeline's
# "Train Keras candidate (GPU)" task and the TFJob of manifests/components/training-gpu/tfjob.yaml.
#
# TensorFlow with CUDA and cuDNN comes from the base image. On top go the package and the
# locked versions of its dependencies, all but tensorflow-cpu, which the base image's GPU
# build of the same TensorFlow release replaces. Build from the repository root:
#
#   docker build -f images/training-gpu.Dockerfile \
#       --build-arg CC_RUN__CODE_VERSION="$(git rev-parse --short=12 HEAD)" -t IMAGE:TAG .
#
# and compile the pipeline with CC_IMAGES__TRAINING_GPU=IMAGE:TAG. The node needs the NVIDIA
# driver and device plugin (GPU Operator); the image carries no driver.

FROM tensorflow/tensorflow:2.21.0-gpu

ARG CC_RUN__CODE_VERSION=unknown

LABEL org.opencontainers.image.title="customer-classifier-training-gpu" \
      org.opencontainers.image.description="Keras deep-learning candidate of the customer classifier, trained on NVIDIA GPUs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${CC_RUN__CODE_VERSION}" \
      org.opencontainers.image.base.name="docker.io/tensorflow/tensorflow:2.21.0-gpu"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/app \
    KERAS_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=1 \
    CC_RUN__CODE_VERSION=${CC_RUN__CODE_VERSION}

# A numeric, unprivileged user, as in the components image.
RUN groupadd --gid 10001 app \
    && useradd --no-log-init --create-home --home-dir /home/app \
        --uid 10001 --gid 10001 --shell /usr/sbin/nologin app \
    && mkdir -p /workspace \
    && chown 10001:10001 /workspace

WORKDIR /opt/customer-classifier
COPY pyproject.toml requirements.lock README.md ./
COPY src/ src/
# The locked tree less tensorflow-cpu, then the package itself without resolving again
# (its metadata names tensorflow-cpu); the last line fails the build if the GPU build of
# TensorFlow was replaced or Keras cannot see it.
RUN grep -v -i -E '^tensorflow[-_]cpu==' requirements.lock > /tmp/requirements-gpu.txt \
    && python -m pip install --no-cache-dir -r /tmp/requirements-gpu.txt \
    && python -m pip install --no-cache-dir --no-deps . \
    && rm /tmp/requirements-gpu.txt \
    && python -c "import tensorflow as tf, keras, kfp, customer_classifier.training.keras_mlp; assert tf.test.is_built_with_cuda(), 'TensorFlow without CUDA'; assert tf.__version__ == '2.21.0', tf.__version__"

WORKDIR /workspace
USER 10001:10001
