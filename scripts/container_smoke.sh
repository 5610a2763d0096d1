#!/usr/bin/env bash
# Build the service image with podman, run it, call it from the host, stop it and check the exit code.
#
#   scripts/container_smoke.sh [PROFILE]          # PROFILE: tiny (default), embedded or hub
#
# Works without a Docker engine and without a container registry: when the Python base image cannot
# be pulled, a Debian bookworm base is built with debootstrap and imported as localhost/debian-base:bookworm,
# and the Dockerfile installs Debian's python3 into it.
#
# Environment (all optional):
#   CTR             scratch folder for podman's storage, configuration and the base rootfs
#                   (default /var/tmp/summarizer-ctr; a cold build needs about 8 GB for tiny, 25 GB for embedded)
#   BASE_IMAGE      base image; default: python:3.11-slim-bookworm if it can be pulled, else the Debian base
#   IMAGE           tag to build (default localhost/summarizer:PROFILE)
#   WHEEL_DIR       folder of wheels mounted into the build for pip --find-links (default /opt/wheels
#                   when it holds a CPU torch wheel; then torch is not fetched from PyTorch's index)
#   HOST_CA         CA bundle mounted into the build for pip (default /etc/ssl/certs/ca-certificates.crt)
#   CLIENT          the summarizer client (default .venv/bin/summarizer-client)
#   SKIP_BUILD=1    reuse an existing IMAGE
#   BUILD_TIMEOUT_S, READY_TIMEOUT_S, CALL_TIMEOUT_S   time limits (defaults 5400, 900 and 900 s; the
#                   embedded model needs several minutes for the summarize call on 2 busy cores)
set -euo pipefail

PROFILE=${1:-${PROFILE:-tiny}}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CTR=${CTR:-/var/tmp/summarizer-ctr}
IMAGE=${IMAGE:-localhost/summarizer:$PROFILE}
DEBIAN_BASE=localhost/debian-base:bookworm
PYTHON_BASE=python:3.11-slim-bookworm
HOST_CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
CLIENT=${CLIENT:-$ROOT/.venv/bin/summarizer-client}
BUILD_TIMEOUT_S=${BUILD_TIMEOUT_S:-5400}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-900}
CALL_TIMEOUT_S=${CALL_TIMEOUT_S:-900}
SEED=$ROOT/seeds/000_dba0962fc812cd96.txt
NAME=summarizer-smoke-$PROFILE-$$

log() { printf '[smoke %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

case "$PROFILE" in
    tiny | embedded | hub) ;;
    *) die "unknown profile $PROFILE (tiny, embedded or hub)" ;;
esac
[[ -x $CLIENT ]] || die "$CLIENT not found: run 'make setup' first"

# -- podman ---------------------------------------------------------------------------------------
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    log "installing podman"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman buildah runc \
        debootstrap uidmap fuse-overlayfs slirp4netns netavark aardvark-dns conmon catatonit >/dev/null
fi

mkdir -p "$CTR"
cat >"$CTR/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=8192:8192", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$CTR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CTR/storage"
runroot = "$CTR/run"
EOF
export CONTAINERS_CONF=$CTR/containers.conf CONTAINERS_STORAGE_CONF=$CTR/storage.conf

# -- base image -----------------------------------------------------------------------------------
debian_mirror() {
    # The mirror apt already uses (deb822 or one-line format).
    local line
    line=$(grep -hsE '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources | head -n 1 | awk '{print $2}')
    [[ -n $line ]] || line=$(grep -hsE '^deb .*debian/? bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        head -n 1 | awk '{print $2}')
    echo "${line:-http://deb.debian.org/debian}"
}

if [[ -z ${BASE_IMAGE:-} ]]; then
    if podman image exists "$PYTHON_BASE" 2>/dev/null ||
        timeout 60 podman pull -q "docker.io/library/$PYTHON_BASE" >/dev/null 2>&1; then
        BASE_IMAGE=$PYTHON_BASE
    else
        BASE_IMAGE=$DEBIAN_BASE
        if ! podman image exists "$DEBIAN_BASE" 2>/dev/null; then
            mirror=$(debian_mirror)
            log "no registry: building $DEBIAN_BASE with debootstrap from $mirror"
            rm -rf "$CTR/rootfs"
            debootstrap --variant=minbase bookworm "$CTR/rootfs" "$mirror" >"$CTR/debootstrap.log" 2>&1 ||
                die "debootstrap failed, see $CTR/debootstrap.log"
            tar -C "$CTR/rootfs" -c . | podman import -q - "$DEBIAN_BASE" >/dev/null
            rm -rf "$CTR/rootfs"
        fi
    fi
fi
log "base image: $BASE_IMAGE"

# -- build ----------------------------------------------------------------------------------------
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "PROFILE=$PROFILE")
if [[ -z ${WHEEL_DIR:-} ]] && compgen -G '/opt/wheels/torch-*+cpu-*.whl' >/dev/null; then
    WHEEL_DIR=/opt/wheels
fi
if [[ -n ${WHEEL_DIR:-} ]]; then
    # torch from the mounted folder rather than PyTorch's index.
    build_args+=(-v "$WHEEL_DIR:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels --build-arg TORCH_INDEX_URL=)
fi
if [[ -f $HOST_CA ]]; then
    build_args+=(-v "$HOST_CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    # A cold build keeps the builder's layers, the image's and a temporary copy of the largest layer.
    case "$PROFILE" in embedded) need_gb=25 ;; hub) need_gb=12 ;; *) need_gb=8 ;; esac
    free_gb=$(($(df --output=avail -k "$CTR" | tail -n 1) / 1024 / 1024))
    ((free_gb >= need_gb)) || log "warning: $free_gb GB free under $CTR; a cold $PROFILE build needs about $need_gb GB"
    log "building $IMAGE (profile $PROFILE); log in $CTR/build-$PROFILE.log"
    started=$SECONDS
    # --format docker keeps the HEALTHCHECK, which the OCI image format has no field for.
    if ! timeout "$BUILD_TIMEOUT_S" podman build --format docker --network=host "${build_args[@]}" \
        -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$CTR/build-$PROFILE.log" 2>&1; then
        tail -n 40 "$CTR/build-$PROFILE.log" >&2
        die "build failed (or ran past ${BUILD_TIMEOUT_S}s)"
    fi
    log "built in $((SECONDS - started)) s"
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
log "image $IMAGE: $((size / 1000000)) MB"

# -- run ------------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "starting $NAME on port $PORT"
started=$SECONDS
# podman logs harmless errors about systemd timers for the HEALTHCHECK where systemd is absent.
podman run -d --name "$NAME" --network=host -e "SUMMARIZER_PORT=$PORT" "$IMAGE" >/dev/null 2>"$CTR/run.log" || {
    cat "$CTR/run.log" >&2
    die "podman run failed"
}

until "$CLIENT" --server "127.0.0.1:$PORT" health >/dev/null 2>&1; do
    if [[ $(podman inspect --format '{{.State.Running}}' "$NAME") != true ]]; then
        podman logs --tail 40 "$NAME" >&2 || true
        die "the container exited before it was SERVING"
    fi
    ((SECONDS - started < READY_TIMEOUT_S)) || {
        podman logs --tail 40 "$NAME" >&2
        die "not SERVING after ${READY_TIMEOUT_S}s"
    }
    sleep 2
done
log "SERVING after $((SECONDS - started)) s"

echo "\$ summarizer-client --server 127.0.0.1:$PORT health"
"$CLIENT" --server "127.0.0.1:$PORT" health
echo "\$ podman healthcheck run (the image's HEALTHCHECK)"
podman healthcheck run "$NAME" || die "the image's HEALTHCHECK failed"
echo healthy

echo "\$ summarizer-client --server 127.0.0.1:$PORT summarize ${SEED#"$ROOT"/} -t en -t fr"
started=$SECONDS
timeout $((CALL_TIMEOUT_S + 30)) "$CLIENT" --server "127.0.0.1:$PORT" --timeout "$CALL_TIMEOUT_S" \
    summarize "$SEED" -t en -t fr ||
    die "summarize failed"
log "summarized in $((SECONDS - started)) s"

# -- stop -----------------------------------------------------------------------------------------
log "podman stop -t 10 (SIGTERM; the server drains and exits)"
started=$SECONDS
podman stop -t 10 "$NAME" >/dev/null 2>>"$CTR/run.log"
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
log "stopped in $((SECONDS - started)) s with exit code $code"
podman logs --tail 5 "$NAME" >&2 || true
[[ $code == 0 ]] || die "exit code $code, expected 0"
log "OK: profile $PROFILE"
