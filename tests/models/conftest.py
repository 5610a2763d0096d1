"""Tiny random-weight seq2seq models, built by `devkit.random_models` with tokenizers trained on the seeds.

Nothing is downloaded. Each family is written to a folder with save_pretrained() once per session, so that the
tests load it back through the service's own loading code, exactly as a profile with a local source would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The builders import the model libraries themselves: without the models extra, test_seq2seq.py skips itself
# and nothing here runs.
from devkit import random_models
from devkit.random_models import TINY

# Multi-target OPUS-MT models mark the output language with a token; both spellings occur on the hub.
MARIAN_TARGET_TOKENS = (">>fra<<", ">>es<<")

# The tiny layers for BART, M2M100, mBART-50 and NLLB, with room for 128 positions.
TINY_BART_LAYERS = {**TINY.bart_layout(), "max_position_embeddings": 128}


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    # The accented lines keep the vocabularies from coming out empty, and hold a few accented letters.
    return random_models.seed_lines() + list(random_models.ACCENTED_LINES)


@pytest.fixture(scope="session")
def fairseq_spm(corpus: list[str]) -> bytes:
    """Unigram model with sentencepiece's default ids (<unk>=0, <s>=1, </s>=2), as fairseq models ship."""
    return random_models.train_sentencepiece(corpus, model_type="unigram")


def _marian(folder: Path, proto: bytes, target_tokens: tuple[str, ...]) -> Path:
    # Short on purpose: the tests feed longer inputs to check the truncation safety net.
    architecture = {**TINY.bart_layout(), "max_position_embeddings": 64}
    random_models.build_marian(folder, proto, architecture=architecture, target_tokens=target_tokens)
    return folder


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    """One direction, no target tokens (like opus-mt-en-de)."""
    return _marian(tmp_path_factory.mktemp("marian"), fairseq_spm, ())


@pytest.fixture(scope="session")
def marian_multi_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    """Several targets chosen by `>>xx<<` tokens (like opus-mt-en-ROMANCE)."""
    return _marian(tmp_path_factory.mktemp("marian-multi"), fairseq_spm, MARIAN_TARGET_TOKENS)


@pytest.fixture(scope="session")
def bart_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    """Byte-level BPE as BART ships, with DistilBART-CNN's generation defaults."""
    folder = tmp_path_factory.mktemp("bart")
    random_models.build_bart(
        folder,
        corpus,
        architecture={**TINY_BART_LAYERS, "forced_bos_token_id": 0},
        # The checkpoint's own lengths, which the service's parameters must override.
        generation={
            "max_length": 142,
            "min_length": 56,
            "num_beams": 4,
            "no_repeat_ngram_size": 3,
            "length_penalty": 2.0,
            "early_stopping": True,
            "forced_bos_token_id": 0,
        },
    )
    return folder


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    folder = tmp_path_factory.mktemp("t5")
    architecture = {**TINY.t5_layout(), "relative_attention_num_buckets": 8}
    random_models.build_t5(folder, corpus, architecture=architecture)
    return folder


@pytest.fixture(scope="session")
def m2m100_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    folder = tmp_path_factory.mktemp("m2m100")
    # Large random weights make the output depend on the input, so that batching tests can tell texts apart.
    random_models.build_m2m100(folder, fairseq_spm, architecture={**TINY_BART_LAYERS, "init_std": 1.0})
    return folder


@pytest.fixture(scope="session")
def mbart50_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    folder = tmp_path_factory.mktemp("mbart50")
    random_models.build_mbart50(folder, fairseq_spm, architecture=TINY_BART_LAYERS)
    return folder


@pytest.fixture(scope="session")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    """NLLB is the M2M100 architecture with its own tokenizer and language codes."""
    folder = tmp_path_factory.mktemp("nllb")
    random_models.build_nllb(folder, corpus, architecture=TINY_BART_LAYERS)
    return folder


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the session, so that each tiny model is converted for CTranslate2 once."""
    return tmp_path_factory.mktemp("model-cache")
