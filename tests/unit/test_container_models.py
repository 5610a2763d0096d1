"""scripts/container_models.py: the slim image's model folder and its virtualenv's model packages.

The export runs on a model cache laid out as setup_models.py leaves it, with placeholder weights: what is
checked is which entry it takes, what it copies, and what it refuses, not the models themselves.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("tokenizers")

from service.models.llm import gguf_cache_entry  # noqa: E402
from service.profiles import get_profile, load_profile_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY_LLM = get_profile("tiny").models[0]


@pytest.fixture(scope="module")
def container_models() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "container_models", ROOT / "scripts" / "container_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tokenizer_json(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "hello": 3, "world": 4}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))


def _prepared_entry(entry: Path, *, marker: str, tokenizer: bool = True) -> Path:
    """A cache entry as setup_models.py leaves it: the HF folder with its weights, and the conversion."""
    hf = entry / "hf"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text(json.dumps({"model_type": "llama", "marker": marker}), encoding="utf-8")
    (hf / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}), encoding="utf-8")
    (hf / "chat_template.jinja").write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    (hf / "model.safetensors").write_bytes(b"weights")
    if tokenizer:
        _tokenizer_json(hf / "tokenizer.json")
    (entry / "ct2-int8").mkdir()
    (entry / "ct2-int8" / "model.bin").write_bytes(marker.encode())
    return entry


def test_export_takes_the_entry_the_server_loads_and_only_what_it_reads(
    container_models: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    current = _prepared_entry(gguf_cache_entry(TINY_LLM, cache), marker="current")
    # An entry under an older key, as a cache filled by earlier code keeps it.
    _prepared_entry(current.with_name(f"{TINY_LLM.name}-b179c9523d0e6a0f"), marker="older")

    profile_file = container_models.export("tiny", cache, tmp_path / "models")

    model = tmp_path / "models" / TINY_LLM.name
    assert (model / "ct2-int8" / "model.bin").read_bytes() == b"current"
    assert sorted(p.name for p in (model / "hf").iterdir()) == [
        "chat_template.jinja",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    written = load_profile_file(profile_file)
    [llm] = [m for m in written.models if m.backend == "llm"]
    assert llm.source == str(model / "hf") and llm.options["runtime"] == "ctranslate2"
    assert llm.options["converted_folder"] == str(model)  # the server converts nothing
    assert (llm.name, llm.tasks, llm.languages) == (TINY_LLM.name, TINY_LLM.tasks, TINY_LLM.languages)


def test_export_without_the_current_entry_says_how_to_prepare_it(
    container_models: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _prepared_entry(cache / "llm" / f"{TINY_LLM.name}-b179c9523d0e6a0f", marker="older")
    with pytest.raises(SystemExit, match="setup_models.py --runtime ctranslate2"):
        container_models.export("tiny", cache, tmp_path / "models")


def test_export_refuses_a_model_the_slim_image_cannot_tokenize(
    container_models: ModuleType, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    _prepared_entry(gguf_cache_entry(TINY_LLM, cache), marker="current", tokenizer=False)
    with pytest.raises(SystemExit, match="cannot tokenize.*no tokenizer.json"):
        container_models.export("tiny", cache, tmp_path / "models")


def test_the_slim_requirements_are_pyprojects_pins_without_torch_or_transformers(
    container_models: ModuleType,
) -> None:
    requirements = container_models.runtime_requirements(ROOT / "pyproject.toml")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    models = extra["optional-dependencies"]["models"]
    names = {container_models._project_name(r) for r in requirements}
    assert names == {"ctranslate2", "tokenizers", "jinja2"}
    assert all(r in models for r in requirements)
