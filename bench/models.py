"""Full-size model folders for the benchmark, built from configs with random weights and cached.

Nothing is downloaded. The shapes are those of the hub checkpoints the `hub` profile names
(Helsinki-NLP/opus-mt-en-de and sshleifer/distilbart-cnn-12-6); the tokenizers are trained on the
seed articles and padded to the checkpoints' vocabulary sizes, so that every matrix multiply, the
output projection included, costs what it costs with the real weights. The text they produce is noise,
which is why the benchmark forces every generation to a fixed number of tokens.

`devkit.random_models` builds them, as it builds the model tests' tiny ones. A folder is written once
under the cache directory, keyed by a hash of everything that goes into it, and loaded back by the
service through its ordinary `source = "<folder>"` path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit import random_models

log = logging.getLogger(__name__)

# Bumped whenever a builder changes what it writes, so that stale folders are not reused.
BUILD_VERSION = 2

# Helsinki-NLP/opus-mt-en-de, as its config.json has it.
MARIAN_CONFIG: dict[str, Any] = {
    "vocab_size": 58101,
    "d_model": 512,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "decoder_ffn_dim": 2048,
    "max_position_embeddings": 512,
    "activation_function": "swish",
    "scale_embedding": True,
    "static_position_embeddings": True,
    "share_encoder_decoder_embeddings": True,
    "tie_word_embeddings": True,
    "eos_token_id": 0,
    "pad_token_id": 58100,
    "decoder_start_token_id": 58100,
    "forced_eos_token_id": 0,
}

# sshleifer/distilbart-cnn-12-6, as its config.json has it.
BART_CONFIG: dict[str, Any] = {
    "vocab_size": 50264,
    "d_model": 1024,
    "encoder_layers": 12,
    "decoder_layers": 6,
    "encoder_attention_heads": 16,
    "decoder_attention_heads": 16,
    "encoder_ffn_dim": 4096,
    "decoder_ffn_dim": 4096,
    "max_position_embeddings": 1024,
    "activation_function": "gelu",
    "scale_embedding": False,
    "bos_token_id": 0,
    "pad_token_id": 1,
    "eos_token_id": 2,
    "decoder_start_token_id": 2,
    "forced_bos_token_id": 0,
    "forced_eos_token_id": 2,
}


@dataclass(frozen=True)
class BuiltModel:
    name: str
    folder: Path
    parameters: int


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "summarizer" / "bench"


def _fingerprint(kind: str, config: dict[str, Any], lines: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([BUILD_VERSION, random_models.SEED, kind, config], sort_keys=True).encode())
    digest.update("\n".join(lines).encode())
    return digest.hexdigest()[:12]


def _cached(
    cache_dir: Path, name: str, kind: str, config: dict[str, Any], build: Callable[[Path, list[str]], int]
) -> BuiltModel:
    """The folder for `name`, built from the seed lines with `build(tmp_folder, lines) -> parameter count`
    when none is cached for this config and these lines."""
    lines = random_models.seed_lines()
    key = _fingerprint(kind, config, lines)
    folder = cache_dir / f"{name}-{key}"
    marker = folder / ".bench-built.json"
    if marker.is_file():
        parameters = int(json.loads(marker.read_text())["parameters"])
        return BuiltModel(name, folder, parameters)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log.info("building %s in %s (once)", name, folder)
    try:
        parameters = build(tmp, lines)
        (tmp / ".bench-built.json").write_text(json.dumps({"parameters": parameters, "key": key}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # Folders of earlier builds of this model are stale now.
    for stale in cache_dir.glob(f"{name}-*"):
        if stale != folder and ".tmp" not in stale.name and (stale / ".bench-built.json").is_file():
            log.info("removing the stale build %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
    return BuiltModel(name, folder, parameters)


# -- Marian ------------------------------------------------------------------------------------------


def _build_marian(folder: Path, lines: list[str]) -> int:
    # The seeds are too small for a large vocabulary: the tokenizer takes what they give, and fillers pad
    # the vocabulary to the checkpoint's size.
    proto = random_models.train_sentencepiece(
        lines, vocab_size=8000, model_type="unigram", character_coverage=1.0
    )
    return random_models.build_marian(
        folder,
        proto,
        architecture=MARIAN_CONFIG,
        vocab_size=MARIAN_CONFIG["vocab_size"],
        model_max_length=512,
        # Greedy by default: the benchmark compares greedy decoding on both sides.
        generation={"bad_words_ids": [[MARIAN_CONFIG["pad_token_id"]]]},
    )


def build_marian(cache_dir: Path) -> BuiltModel:
    """An opus-mt-en-de-shaped Marian model. One folder serves every en->xx pair of the benchmark."""
    return _cached(cache_dir, "opus-mt-en-xx", "marian", MARIAN_CONFIG, _build_marian)


# -- BART --------------------------------------------------------------------------------------------


def _build_bart(folder: Path, lines: list[str]) -> int:
    return random_models.build_bart(
        folder,
        lines,
        architecture=BART_CONFIG,
        vocab_size=BART_CONFIG["vocab_size"],
        model_max_length=1024,
        generation={"forced_bos_token_id": 0, "forced_eos_token_id": 2},
    )


def build_bart(cache_dir: Path) -> BuiltModel:
    """A distilbart-cnn-12-6-shaped BART model with a byte-level BPE tokenizer."""
    return _cached(cache_dir, "distilbart-cnn-12-6", "bart", BART_CONFIG, _build_bart)


# -- the packaged LLM --------------------------------------------------------------------------------

LLM_PREFIX = "qwen2.5-coder-1.5b-instruct-"


def packaged_llm_folder(service_cache_dir: Path) -> Path | None:
    """The dequantized Hugging Face folder of the embedded profile's LLM, if `make setup` made it.

    The cache keeps one entry per dequantizer revision, so an update leaves older ones behind: the newest
    is the one the service makes and loads now (the entry names are hashes and say nothing of age).
    """
    found = [
        entry / "hf"
        for entry in (service_cache_dir / "llm").glob(LLM_PREFIX + "*")
        if (entry / "hf" / "config.json").is_file()
    ]
    return max(found, key=lambda hf: (hf / "config.json").stat().st_mtime_ns, default=None)


def llm_conversion_cached(service_cache_dir: Path) -> bool:
    folder = packaged_llm_folder(service_cache_dir)
    return folder is not None and (folder.parent / "ct2-int8" / "model.bin").is_file()
