"""The per-model options that both generative backends read from a profile (`ModelSpec.options`).

- `runtime`: "ctranslate2" or "transformers"; the load context's default otherwise.
- `compute_type`: CTranslate2's compute type; "int8" on the CPU and "int8_float16" on a GPU unless given. The
  converted folder is stored in the matching quantization (`stored_quantization`).
- `converted_folder`: a folder that already holds the CTranslate2 conversion of the model in `source`
  (`ct2-<quantization>` inside), as the slim image ships it (scripts/container_models.py). It is used as it
  is, never converted into, so it may be read-only; whoever writes it keeps it in step with `source`.
- `force_output_tokens`: for benchmarks only, never for serving. Every generation writes exactly this many
  tokens (the end token is held back until then), in both backends and both runtimes, so that both sides of a
  comparison do the same work and random-weight models of full size cost what real ones do.

The batching options are read by `service.models.batching.BatchPolicy.from_options`; options only one backend
knows (a seq2seq `family`, an llm `repetition_penalty`) by that backend.
"""

from __future__ import annotations

from pathlib import Path

from service.errors import ModelLoadError
from service.models.base import LoadContext, ModelSpec

RUNTIMES = ("ctranslate2", "transformers")
# What CTranslate2 can store and compute in.
CT2_COMPUTE_TYPES = frozenset(
    {"int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32"}
)


def runtime(spec: ModelSpec, context: LoadContext) -> str:
    """The runtime the spec asks for, or the context's default."""
    name = str(spec.options.get("runtime", context.runtime))
    if name not in RUNTIMES:
        raise ModelLoadError(f"model {spec.name!r}: unknown runtime {name!r}; known: {', '.join(RUNTIMES)}")
    return name


def compute_type(spec: ModelSpec, device: str) -> str:
    """CTranslate2's compute type for the spec on `device` ("cpu", "cuda", "cuda:N")."""
    default = "int8" if device == "cpu" else "int8_float16"
    value = str(spec.options.get("compute_type") or default)
    if value not in CT2_COMPUTE_TYPES:
        raise ModelLoadError(
            f"model {spec.name!r}: unknown compute_type {value!r}; "
            f"known: {', '.join(sorted(CT2_COMPUTE_TYPES))}"
        )
    return value


def stored_quantization(compute_type: str) -> str:
    """The quantization a converted folder is written in for `compute_type`.

    Every int8 compute type reads int8 weights (CTranslate2 casts the rest at load), so one folder serves the
    CPU's int8 and a GPU's int8_float16.
    """
    return "int8" if compute_type.startswith("int8") else compute_type


def converted_folder(spec: ModelSpec) -> Path | None:
    """The spec's `converted_folder` (see the module docstring), or None."""
    value = spec.options.get("converted_folder")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ModelLoadError(f"model {spec.name!r}: converted_folder must be a folder path, got {value!r}")
    return Path(value).expanduser()


def forced_output_tokens(spec: ModelSpec) -> int | None:
    """The spec's `force_output_tokens` (benchmarks only; see the module docstring), or None."""
    value = spec.options.get("force_output_tokens")
    if value is None:
        return None
    try:
        tokens = int(value)
    except (TypeError, ValueError):
        tokens = 0
    if tokens < 1:
        raise ModelLoadError(
            f"model {spec.name!r}: force_output_tokens must be a positive integer, got {value!r}"
        )
    return tokens
