#!/usr/bin/env bash
# Build the service image with podman and run it as a fleet would: read-only, non-root, no capabilities.
#
#   scripts/container_test.sh [PROFILE]          # PROFILE: tiny (default, what CI runs), embedded or hub
#
# Steps: install podman with apt if it is missing; configure it in a scratch folder; build a Debian
# bookworm base with debootstrap (no registry needed) unless a base image is at hand; build the image;
# run it with a read-only root, /tmp as the only writable place, as uid 10001 with every capability
# dropped, on the host network bound to 127.0.0.1; wait for the image's HEALTHCHECK; call Summarize over
# 127.0.0.1; stop it with SIGTERM and expect exit code 0. Prints the image size and the start-up time.
#
# The package sources come from this machine: the Debian mirror apt uses, and pip's index, wheel folder
# and CA bundle from pip's configuration. The CPU build of torch comes from that wheel folder, or from
# PyTorch's CPU wheel index given as TORCH_INDEX_URL.
#
# Environment (all optional):
#   CTR             scratch folder for podman's storage and configuration (default /var/tmp/summarizer-ctr;
#                   a cold build needs about 8 GB for tiny, 20 GB for embedded)
#   TARGET          runtime (default: the slim, read-only image) or full (torch and transformers)
#   BASE_IMAGE      base image (default: python:3.11-slim-bookworm if present locally, else the Debian base)
#   IMAGE           tag to build (default localhost/summarizer:PROFILE, or PROFILE-full)
#   CLIENT          the summarizer client on the host (default .venv/bin/summarizer-client; without it the
#                   image's own client is used, still over 127.0.0.1)
#   TORCH_INDEX_URL PyTorch's CPU wheel index, when pip's wheel folder has no CPU torch wheel
#   PREPARED_CACHE  a model cache `make setup` filled on this machine (e.g. ~/.cache/summarizer), mounted
#                   into the build so that the models are exported from it instead of converted again
#   SKIP_BUILD=1    reuse an existing IMAGE
#   BUILD_TIMEOUT_S, READY_TIMEOUT_S, CALL_TIMEOUT_S   time limits (defaults 3600, 600 and 600 s)
set -euo pipefail

PROFILE=${1:-${PROFILE:-tiny}}
TARGET=${TARGET:-runtime}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CTR=${CTR:-/var/tmp/summarizer-ctr}
if [[ $TARGET == full ]]; then IMAGE=${IMAGE:-localhost/summarizer:$PROFILE-full}; else IMAGE=${IMAGE:-localhost/summarizer:$PROFILE}; fi
DEBIAN_BASE=localhost/debian-base:bookworm
PYTHON_BASE=python:3.11-slim-bookworm
APP_UID=10001
CLIENT=${CLIENT:-$ROOT/.venv/bin/summarizer-client}
BUILD_TIMEOUT_S=${BUILD_TIMEOUT_S:-3600}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-600}
CALL_TIMEOUT_S=${CALL_TIMEOUT_S:-600}
SEED=$ROOT/seeds/000_dba0962fc812cd96.txt
NAME=summarizer-test-$PROFILE-$$

log() { printf '[container-test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

case "$PROFILE" in
    tiny | embedded | hub) ;;
    *) die "unknown profile $PROFILE (tiny, embedded or hub)" ;;
esac
case "$TARGET" in
    runtime | full) ;;
    *) die "unknown target $TARGET (runtime or full)" ;;
esac
[[ $PROFILE != hub || $TARGET == full ]] || die "the hub profile needs TARGET=full"
total_started=$SECONDS

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
    # The Debian mirror apt already uses (deb822 or one-line format).
    local uri
    uri=$(grep -hsE '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources | head -n 1 | awk '{print $2}')
    [[ -n $uri ]] || uri=$(grep -hsE '^deb .*debian/? bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        head -n 1 | awk '{print $2}')
    echo "$uri"
}

if [[ -z ${BASE_IMAGE:-} ]]; then
    if podman image exists "$PYTHON_BASE" 2>/dev/null; then
        BASE_IMAGE=$PYTHON_BASE
    else
        BASE_IMAGE=$DEBIAN_BASE
        if ! podman image exists "$DEBIAN_BASE" 2>/dev/null; then
            mirror=$(debian_mirror)
            [[ -n $mirror ]] || die "no Debian mirror in /etc/apt/sources.list*; set BASE_IMAGE"
            log "building $DEBIAN_BASE with debootstrap from apt's mirror"
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
pip_config() { python3 -m pip config get "$1" 2>/dev/null || true; }
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "PROFILE=$PROFILE" --target "$TARGET")
# pip's index as this machine has it configured; only http(s) locations mean anything inside the build.
index_url=${PIP_INDEX_URL:-$(pip_config global.index-url)}
if [[ $index_url == http* ]]; then build_args+=(--build-arg "PIP_INDEX_URL=$index_url"); fi
extra_urls=()
for url in ${PIP_EXTRA_INDEX_URL:-$(pip_config global.extra-index-url)}; do
    if [[ $url == http* ]]; then extra_urls+=("$url"); fi
done
if ((${#extra_urls[@]})); then build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=${extra_urls[*]}"); fi
# The CPU build of torch: from PyTorch's CPU wheel index when TORCH_INDEX_URL names it, or from pip's
# wheel folder, mounted into the build, when it holds the wheel. Without either the build stops and says so.
if [[ -n ${TORCH_INDEX_URL:-} ]]; then build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL"); fi
wheel_dir=${WHEEL_DIR:-${PIP_FIND_LINKS:-$(pip_config global.find-links)}}
wheel_dir=${wheel_dir%% *}
if [[ -n $wheel_dir && -d $wheel_dir ]] && compgen -G "$wheel_dir/torch-*+cpu-*.whl" >/dev/null; then
    build_args+=(-v "$wheel_dir:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels)
elif [[ -z ${TORCH_INDEX_URL:-} ]]; then
    log "warning: no CPU torch wheel in pip's wheel folder and no TORCH_INDEX_URL: the build stops at torch"
fi
# A model cache prepared on this machine by `make setup`, used instead of converting in the build.
if [[ -n ${PREPARED_CACHE:-} ]]; then
    build_args+=(-v "$PREPARED_CACHE:/prepared:ro" --build-arg PREPARED_CACHE=/prepared)
fi
# A TLS-inspecting proxy's CA, when pip is configured with one.
ca_bundle=${PIP_CERT:-$(pip_config global.cert)}
ca_bundle=${ca_bundle:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $ca_bundle ]]; then
    build_args+=(-v "$ca_bundle:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi

build_s=0
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    case "$PROFILE" in embedded) need_gb=20 ;; hub) need_gb=12 ;; *) need_gb=8 ;; esac
    free_gb=$(($(df --output=avail -k "$CTR" | tail -n 1) / 1024 / 1024))
    ((free_gb >= need_gb)) || log "warning: $free_gb GB free under $CTR; a cold $PROFILE build needs about $need_gb GB"
    log "building $IMAGE (profile $PROFILE, target $TARGET); log in $CTR/build-$PROFILE-$TARGET.log"
    started=$SECONDS
    # --format docker keeps the HEALTHCHECK, which the OCI image format has no field for.
    if ! timeout "$BUILD_TIMEOUT_S" podman build --format docker --network=host "${build_args[@]}" \
        -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >"$CTR/build-$PROFILE-$TARGET.log" 2>&1; then
        tail -n 40 "$CTR/build-$PROFILE-$TARGET.log" >&2
        die "build failed (or ran past ${BUILD_TIMEOUT_S}s)"
    fi
    build_s=$((SECONDS - started))
    log "built in $build_s s"
fi
size_mb=$(($(podman image inspect --format '{{.Size}}' "$IMAGE") / 1000000))
log "image $IMAGE: $size_mb MB"

# -- run ------------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

run_args=(--network=host -e SUMMARIZER_HOST=127.0.0.1 -e "SUMMARIZER_PORT=$PORT" --user "$APP_UID:$APP_UID"
    --cap-drop=ALL --security-opt=no-new-privileges)
if [[ $TARGET == runtime ]]; then
    # As a pod with readOnlyRootFilesystem and an emptyDir on /tmp: nothing else is writable.
    run_args+=(--read-only --read-only-tmpfs=false --tmpfs "/tmp:rw,size=256m,mode=1777")
fi
log "starting $NAME on 127.0.0.1:$PORT (${run_args[*]:3})"
started_ns=$(date +%s%N)
podman run -d --name "$NAME" "${run_args[@]}" "$IMAGE" >/dev/null 2>"$CTR/run.log" || {
    cat "$CTR/run.log" >&2
    die "podman run failed"
}

# The image's own HEALTHCHECK (readiness: SERVING once the models are loaded and warm).
until podman healthcheck run "$NAME" >/dev/null 2>&1; do
    if [[ $(podman inspect --format '{{.State.Running}}' "$NAME") != true ]]; then
        podman logs --tail 40 "$NAME" >&2 || true
        die "the container exited before its HEALTHCHECK passed"
    fi
    if (($(date +%s%N) - started_ns > READY_TIMEOUT_S * 1000000000)); then
        podman logs --tail 40 "$NAME" >&2
        die "HEALTHCHECK not passing after ${READY_TIMEOUT_S}s"
    fi
    sleep 0.5
done
startup_ms=$((($(date +%s%N) - started_ns) / 1000000))
log "HEALTHCHECK passed $((startup_ms / 1000)).$((startup_ms % 1000 / 100)) s after podman run"
podman logs "$NAME" 2>&1 | grep -E "models ready|torch" >&2 || true

if [[ -x $CLIENT ]]; then
    client=("$CLIENT")
else
    log "no client at $CLIENT: using the image's, on the host network"
    client=(podman run --rm -i --network=host --read-only --user "$APP_UID:$APP_UID" --entrypoint summarizer-client "$IMAGE")
fi
echo "\$ summarizer-client --server 127.0.0.1:$PORT summarize ${SEED#"$ROOT"/} -t en --json"
started=$SECONDS
reply=$(timeout $((CALL_TIMEOUT_S + 30)) "${client[@]}" --server "127.0.0.1:$PORT" --timeout "$CALL_TIMEOUT_S" \
    summarize - -t en --json <"$SEED") || die "summarize failed"
echo "$reply"
grep -q '"summary"' <<<"$reply" || die "no summary in the reply"
log "summarized in $((SECONDS - started)) s"

# -- stop -----------------------------------------------------------------------------------------
log "podman stop -t 30 (SIGTERM; the server drains and exits)"
started=$SECONDS
podman stop -t 30 "$NAME" >/dev/null 2>>"$CTR/run.log"
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
log "stopped in $((SECONDS - started)) s with exit code $code"
podman logs --tail 3 "$NAME" >&2 || true
[[ $code == 0 ]] || die "exit code $code, expected 0"
printf 'container-test: profile %s, target %s: image %s MB, build %d s, HEALTHCHECK passed %d.%d s after start, total %d s\n' \
    "$PROFILE" "$TARGET" "$size_mb" "$build_s" $((startup_ms / 1000)) $((startup_ms % 1000 / 100)) $((SECONDS - total_started))
log "OK"
