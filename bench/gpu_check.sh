#!/usr/bin/env bash
# The benchmark's GPU section, for a machine with one NVIDIA GPU: CTranslate2's GPU compute types (float16,
# int8_float16, ...) on the Marian shape and the embedded LLM, then the service and the raw engine with
# --device cuda (int8_float16, the service's GPU default) at the CPU run's concurrency levels. About ten
# minutes once `make setup` has converted the models; each step is cut off before the budget runs out.
#
#   bash bench/gpu_check.sh              # writes bench/ENGINE-gpu.md and bench/RESULTS-gpu.md
#   DEVICE=cuda:1 OUT=/tmp bash bench/gpu_check.sh
#
# Where there is no GPU it stops at once with exit status 1 and says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-bench}

fail() {
    echo "gpu_check: FAILED: $*" >&2
    exit 1
}

[[ "$DEVICE" =~ ^cuda(:[0-9]+)?$ ]] || fail "DEVICE must be cuda or cuda:N, got '$DEVICE'"
command -v nvidia-smi >/dev/null 2>&1 || fail "no nvidia-smi on this machine: no NVIDIA driver, so no GPU to measure"
nvidia-smi -L >/dev/null 2>&1 || fail "nvidia-smi finds no GPU"
[ -x "$PY" ] || fail "no Python at $PY (run make setup, or set PY)"
count=$("$PY" -c 'import ctranslate2; print(ctranslate2.get_cuda_device_count())') \
    || fail "cannot import ctranslate2 with $PY"
[ "$count" -ge 1 ] || fail "CTranslate2 sees no CUDA device (a CPU-only build, or a driver too old for its CUDA)"

nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader
started=$(date +%s)

echo "gpu_check: compute types on $DEVICE (each configuration in a process of its own)"
timeout 240 "$PY" -m bench.engine --device "$DEVICE" --only backends --rounds 1 --out "$OUT/ENGINE-gpu.md" \
    || fail "bench.engine on $DEVICE did not finish within 240 s (status $?)"

echo "gpu_check: the service and the raw engine on $DEVICE"
timeout 330 "$PY" -m bench --device "$DEVICE" --only translation --only llm --no-baseline \
    --out "$OUT/RESULTS-gpu.md" \
    || fail "python -m bench on $DEVICE did not finish within 330 s, or a section failed (status $?)"

echo "gpu_check: done in $(($(date +%s) - started)) s; see $OUT/ENGINE-gpu.md and $OUT/RESULTS-gpu.md"
