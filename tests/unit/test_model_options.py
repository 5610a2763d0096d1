"""The per-model options both generative backends read, and where CTranslate2 runs for a device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.errors import ModelLoadError
from service.models import options
from service.models.base import LoadContext, ModelSpec
from service.models.ct2_runtime import ct2_options, device_and_index


def spec(**opts: Any) -> ModelSpec:
    return ModelSpec(name="m", backend="seq2seq", source="x", options=opts)


@pytest.mark.parametrize(
    ("device", "expected"), [("cpu", "int8"), ("cuda", "int8_float16"), ("cuda:1", "int8_float16")]
)
def test_the_default_compute_type_follows_the_device(device: str, expected: str) -> None:
    assert options.compute_type(spec(), device) == expected
    assert options.compute_type(spec(compute_type="float32"), device) == "float32"


def test_int8_compute_types_share_one_stored_quantization() -> None:
    assert {options.stored_quantization(t) for t in ("int8", "int8_float16", "int8_bfloat16")} == {"int8"}
    assert options.stored_quantization("float16") == "float16"


def test_unknown_runtime_and_compute_type_are_refused() -> None:
    context = LoadContext(cache_dir=Path("/nonexistent"), runtime="ctranslate2")
    assert options.runtime(spec(), context) == "ctranslate2"
    assert options.runtime(spec(runtime="transformers"), context) == "transformers"
    with pytest.raises(ModelLoadError, match="unknown runtime 'onnx'; known: ctranslate2, transformers"):
        options.runtime(spec(runtime="onnx"), context)
    with pytest.raises(ModelLoadError, match="unknown compute_type 'int4'"):
        options.compute_type(spec(compute_type="int4"), "cpu")


def test_converted_folder_is_a_path_or_absent() -> None:
    assert options.converted_folder(spec()) is None
    assert options.converted_folder(spec(converted_folder="/models/m")) == Path("/models/m")
    for bad in ("", 3, ["/models/m"]):
        with pytest.raises(ModelLoadError, match="converted_folder must be a folder path"):
            options.converted_folder(spec(converted_folder=bad))


@pytest.mark.parametrize(("value", "expected"), [(None, None), (7, 7), ("24", 24)])
def test_force_output_tokens_is_read_as_a_positive_count(value: Any, expected: int | None) -> None:
    opts = {} if value is None else {"force_output_tokens": value}
    assert options.forced_output_tokens(spec(**opts)) == expected


@pytest.mark.parametrize("value", [0, -3, "many"])
def test_force_output_tokens_refuses_anything_else(value: Any) -> None:
    with pytest.raises(ModelLoadError, match="force_output_tokens must be a positive integer"):
        options.forced_output_tokens(spec(force_output_tokens=value))


@pytest.mark.parametrize(
    ("device", "expected"), [("cpu", ("cpu", 0)), ("cuda", ("cuda", 0)), ("cuda:2", ("cuda", 2))]
)
def test_ctranslate2_gets_the_device_and_its_index(device: str, expected: tuple[str, int]) -> None:
    assert device_and_index(device) == expected
    arguments = ct2_options(device, "int8_float16", threads=4)
    assert (arguments["device"], arguments["device_index"]) == expected
    assert arguments["compute_type"] == "int8_float16" and arguments["intra_threads"] == 4
