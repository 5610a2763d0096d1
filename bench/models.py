"""Full-size model folders for the benchmark, built from configs with random weights and cached.

Nothing is downloaded. The shapes are those of the hub checkpoints the `hub` profile names
(Helsinki-NLP/opus-mt-en-de and sshleifer/distilbart-cnn-12-6); the tokenizers are trained on the
seed articles and padded to the checkpoints' vocabulary sizes, so that every matrix multiply, the
output projection included, costs what it costs with the real weights. The text they produce is noise,
which is why the benchmark forces every generation to a fixed number of tokens.

A folder is written once under the cache directory, keyed by a hash of everything that goes into it,
and loaded back by the service through its ordinary `source = "<folder>"` path.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# Bumped whenever a builder changes what it writes, so that stale folders are not reused.
BUILD_VERSION = 2
# Added to the output scores of the vocabulary's filler entries. See _ban_fillers.
_FILLER_BIAS = -1e4
SEED = 0

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

BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


@dataclass(frozen=True)
class BuiltModel:
    name: str
    folder: Path
    parameters: int


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "summarizer" / "bench"


def seed_lines() -> list[str]:
    """Every non-empty line of the seed articles, wrapped so that sentencepiece accepts each one."""
    lines: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            lines.extend(textwrap.wrap(line.strip(), 1000))
    return [line for line in lines if line]


def _fingerprint(kind: str, config: dict[str, Any], lines: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([BUILD_VERSION, SEED, kind, config], sort_keys=True).encode())
    digest.update("\n".join(lines).encode())
    return digest.hexdigest()[:12]


def _cached(cache_dir: Path, name: str, key: str, build: Callable[[Path], int]) -> BuiltModel:
    """The folder for `name` at `key`, built with `build(tmp_folder) -> parameter count` when missing."""
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
        parameters = build(tmp)
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


def _seed() -> None:
    import torch

    torch.manual_seed(SEED)


def _ban_fillers(model: Any, first: int, end: int) -> None:
    """Keep the random model from writing the filler entries that pad the vocabulary to full size.

    A filler decodes to text the tokenizer reads back as several tokens, so a summary made of them
    would grow about sixfold when summarized again and map-reduce over a long article would never
    shrink it. With the fillers out of reach, outputs read back at about their own length, as real
    summaries do. The scores are still computed over the whole vocabulary, so nothing gets cheaper;
    both runtimes apply `final_logits_bias`.
    """
    import torch

    with torch.no_grad():
        model.final_logits_bias[0, first:end] = _FILLER_BIAS


# -- Marian ------------------------------------------------------------------------------------------


def _train_sentencepiece(lines: list[str]) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="unigram",
        # The seeds are too small for a large vocabulary; take what they give.
        vocab_size=8000,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=2,
        minloglevel=2,
    )
    return model.getvalue()


def _build_marian(folder: Path, lines: list[str]) -> int:
    import sentencepiece as spm
    from transformers import GenerationConfig, MarianConfig, MarianMTModel, MarianTokenizer

    proto = _train_sentencepiece(lines)
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(proto)
    processor = spm.SentencePieceProcessor(model_proto=proto)
    # OPUS-MT layout: </s>=0, <unk>=1, the pieces, filler up to the checkpoint's size, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(processor.get_piece_size()):
        if not (processor.is_control(i) or processor.is_unknown(i)):
            vocab.setdefault(processor.id_to_piece(i), len(vocab))
    size = MARIAN_CONFIG["vocab_size"]
    first_filler = len(vocab)
    filler = 0
    while len(vocab) < size - 1:
        vocab.setdefault(f"▁x{filler}", len(vocab))
        filler += 1
    vocab["<pad>"] = len(vocab)
    assert len(vocab) == size and vocab["<pad>"] == MARIAN_CONFIG["pad_token_id"]
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
        model_max_length=512,
    )
    _seed()
    model = MarianMTModel(MarianConfig(**MARIAN_CONFIG))
    _ban_fillers(model, first_filler, size - 1)
    # Greedy by default: the benchmark compares greedy decoding on both sides.
    model.generation_config = GenerationConfig(
        pad_token_id=MARIAN_CONFIG["pad_token_id"],
        eos_token_id=0,
        decoder_start_token_id=MARIAN_CONFIG["decoder_start_token_id"],
        forced_eos_token_id=0,
        bad_words_ids=[[MARIAN_CONFIG["pad_token_id"]]],
    )
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def build_marian(cache_dir: Path) -> BuiltModel:
    """An opus-mt-en-de-shaped Marian model. One folder serves every en->xx pair of the benchmark."""
    lines = seed_lines()
    key = _fingerprint("marian", MARIAN_CONFIG, lines)
    return _cached(cache_dir, "opus-mt-en-xx", key, lambda folder: _build_marian(folder, lines))


# -- BART --------------------------------------------------------------------------------------------


def _train_byte_bpe(lines: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=BART_CONFIG["vocab_size"],
        special_tokens=BART_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer)
    state = json.loads(tokenizer.to_str())["model"]
    return state["vocab"], [tuple(merge) for merge in state["merges"]]


def _build_bart(folder: Path, lines: list[str]) -> int:
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig

    vocab, merges = _train_byte_bpe(lines)
    size = BART_CONFIG["vocab_size"]
    first_filler = len(vocab)
    # Filler entries are reachable by no merge, so they only widen the output projection, as the real
    # vocabulary does. "Ġ" and ASCII letters are in the byte-level alphabet, so they decode cleanly.
    filler = 0
    while len(vocab) < size:
        vocab.setdefault(f"Ġx{filler}", len(vocab))
        filler += 1
    assert [vocab[t] for t in BART_SPECIALS[:4]] == [0, 1, 2, 3]
    # The tokenizers library's merges, as pairs; the constructor takes them as they are.
    tokenizer = BartTokenizer(vocab=vocab, merges=cast(Any, merges), model_max_length=1024)
    assert len(tokenizer) == size, len(tokenizer)
    _seed()
    model = BartForConditionalGeneration(BartConfig(**BART_CONFIG))
    _ban_fillers(model, first_filler, size)
    ids = {
        k: BART_CONFIG[k] for k in ("bos_token_id", "pad_token_id", "eos_token_id", "decoder_start_token_id")
    }
    model.generation_config = GenerationConfig(forced_bos_token_id=0, forced_eos_token_id=2, **ids)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def build_bart(cache_dir: Path) -> BuiltModel:
    """A distilbart-cnn-12-6-shaped BART model with a byte-level BPE tokenizer."""
    lines = seed_lines()
    key = _fingerprint("bart", BART_CONFIG, lines)
    return _cached(cache_dir, "distilbart-cnn-12-6", key, lambda folder: _build_bart(folder, lines))


# -- the packaged LLM --------------------------------------------------------------------------------

LLM_PREFIX = "qwen2.5-coder-1.5b-instruct-"


def packaged_llm_folder(service_cache_dir: Path) -> Path | None:
    """The dequantized Hugging Face folder of the embedded profile's LLM, if `make setup` made it."""
    for entry in sorted((service_cache_dir / "llm").glob(LLM_PREFIX + "*")):
        if (entry / "hf" / "config.json").is_file():
            return entry / "hf"
    return None


def llm_conversion_cached(service_cache_dir: Path) -> bool:
    folder = packaged_llm_folder(service_cache_dir)
    return folder is not None and (folder.parent / "ct2-int8" / "model.bin").is_file()
