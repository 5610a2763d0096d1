"""Tiny random-weight seq2seq models, built from configs with tokenizers trained on the seed articles.

Nothing is downloaded. Each family is written to a folder with save_pretrained() once per session, so that the
tests load it back through the service's own loading code, exactly as a profile with a local source would.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

# The libraries are imported inside the builders: without the models extra, test_seq2seq.py skips itself
# and nothing here runs.

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# Always part of the corpus, so that the vocabularies never come out empty and hold a few accented letters.
EXTRA_LINES = [
    "The council met on Monday and approved the budget for the coming year.",
    "Le conseil s'est réuni lundi et a approuvé le budget de l'année prochaine.",
    "Der Rat tagte am Montag und billigte den Haushalt für das kommende Jahr.",
    "El consejo se reunió el lunes y aprobó el presupuesto del próximo año.",
]

# Small enough to build and run in well under a second each; the shapes are what the tests exercise.
TINY = {"d_model": 16, "layers": 1, "heads": 2, "ffn": 32}

# Multi-target OPUS-MT models mark the output language with a token; both spellings occur on the hub.
MARIAN_TARGET_TOKENS = (">>fra<<", ">>es<<")


def corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            # sentencepiece skips sentences longer than 4192 bytes.
            lines.extend(textwrap.wrap(line.strip(), 1000))
    return [line for line in lines if line] + EXTRA_LINES


def _vocab_size(lines: list[str]) -> int:
    # Each distinct character needs a piece of its own (CJK seeds bring hundreds), plus room for subwords.
    return max(400, int(len(set("".join(lines))) * 1.1) + 100)


def train_sentencepiece(lines: list[str], **options: Any) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=_vocab_size(lines),
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
        **options,
    )
    return model.getvalue()


def _pieces(proto: bytes) -> list[str]:
    """The model's subword pieces, without its control symbols."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=proto)
    return [
        processor.id_to_piece(i)
        for i in range(processor.get_piece_size())
        if not (processor.is_control(i) or processor.is_unknown(i))
    ]


def _train_bpe(lines: list[str], specials: list[str], *, byte_level: bool) -> tuple[dict[str, int], list]:
    """A `tokenizers` BPE model: (vocab, merges)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    if byte_level:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        alphabet = []
    trainer = trainers.BpeTrainer(
        vocab_size=_vocab_size(lines) + len(alphabet),
        special_tokens=specials,
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer)
    state = json.loads(tokenizer.to_str())["model"]
    return state["vocab"], [tuple(merge) for merge in state["merges"]]


def _bart_layers(config_cls: Any, vocab_size: int, **ids: Any) -> Any:
    """A config in the BART layout shared by BART, mBART, Marian and M2M100."""
    return config_cls(
        vocab_size=vocab_size,
        d_model=TINY["d_model"],
        encoder_layers=TINY["layers"],
        decoder_layers=TINY["layers"],
        encoder_attention_heads=TINY["heads"],
        decoder_attention_heads=TINY["heads"],
        encoder_ffn_dim=TINY["ffn"],
        decoder_ffn_dim=TINY["ffn"],
        **ids,
    )


def _seed() -> None:
    """Random weights, but the same ones every run."""
    import torch

    torch.manual_seed(0)


def _save(folder: Path, tokenizer: Any, model: Any) -> Path:
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return corpus_lines()


@pytest.fixture(scope="session")
def fairseq_spm(corpus: list[str]) -> bytes:
    """Unigram model with sentencepiece's default ids (<unk>=0, <s>=1, </s>=2), as fairseq models ship."""
    return train_sentencepiece(corpus, model_type="unigram")


def _build_marian(folder: Path, proto: bytes, target_tokens: tuple[str, ...]) -> Path:
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(proto)
    # OPUS-MT layout: </s>=0, <unk>=1, the pieces, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for token in (*target_tokens, *_pieces(proto)):
        vocab.setdefault(token, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
    )
    pad = vocab["<pad>"]
    config = _bart_layers(
        MarianConfig,
        len(vocab),
        # Short on purpose: the tests feed longer inputs to check the truncation safety net.
        max_position_embeddings=64,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
    )
    _seed()
    return _save(folder, tokenizer, MarianMTModel(config))


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    """One direction, no target tokens (like opus-mt-en-de)."""
    return _build_marian(tmp_path_factory.mktemp("marian"), fairseq_spm, ())


@pytest.fixture(scope="session")
def marian_multi_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    """Several targets chosen by `>>xx<<` tokens (like opus-mt-en-ROMANCE)."""
    return _build_marian(tmp_path_factory.mktemp("marian-multi"), fairseq_spm, MARIAN_TARGET_TOKENS)


@pytest.fixture(scope="session")
def bart_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    """Byte-level BPE as BART ships, with DistilBART-CNN's generation defaults."""
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer, GenerationConfig

    vocab, merges = _train_bpe(corpus, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], byte_level=True)
    tokenizer = BartTokenizer(vocab=vocab, merges=merges)
    ids = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}
    config = _bart_layers(
        BartConfig, len(tokenizer), max_position_embeddings=128, forced_bos_token_id=0, **ids
    )
    _seed()
    model = BartForConditionalGeneration(config)
    # The checkpoint's own lengths, which the service's parameters must override.
    model.generation_config = GenerationConfig(
        max_length=142,
        min_length=56,
        num_beams=4,
        no_repeat_ngram_size=3,
        length_penalty=2.0,
        early_stopping=True,
        forced_bos_token_id=0,
        **ids,
    )
    return _save(tmp_path_factory.mktemp("bart"), tokenizer, model)


@pytest.fixture(scope="session")
def t5_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    source = tmp_path_factory.mktemp("t5-spm")
    (source / "spiece.model").write_bytes(
        train_sentencepiece(corpus, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    )
    tokenizer = T5Tokenizer.from_pretrained(source, extra_ids=0, model_max_length=256)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=TINY["d_model"],
        d_kv=8,
        d_ff=TINY["ffn"],
        num_layers=TINY["layers"],
        num_decoder_layers=TINY["layers"],
        num_heads=TINY["heads"],
        relative_attention_num_buckets=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    _seed()
    return _save(tmp_path_factory.mktemp("t5"), tokenizer, T5ForConditionalGeneration(config))


# The ids fairseq-converted checkpoints use: M2M100, mBART-50 and NLLB.
FAIRSEQ_IDS = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}


@pytest.fixture(scope="session")
def m2m100_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    folder = tmp_path_factory.mktemp("m2m100")
    (folder / "sentencepiece.bpe.model").write_bytes(fairseq_spm)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in _pieces(fairseq_spm):
        vocab.setdefault(piece, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = M2M100Tokenizer(
        vocab_file=str(folder / "vocab.json"), spm_file=str(folder / "sentencepiece.bpe.model")
    )
    # The tokenizer numbers its language tokens after the vocabulary, then leaves room for made-up words.
    vocab_size = max(tokenizer.lang_token_to_id.values()) + 1 + tokenizer.num_madeup_words
    # Large random weights make the output depend on the input, so that batching tests can tell texts apart.
    config = _bart_layers(M2M100Config, vocab_size, max_position_embeddings=128, init_std=1.0, **FAIRSEQ_IDS)
    _seed()
    return _save(folder, tokenizer, M2M100ForConditionalGeneration(config))


@pytest.fixture(scope="session")
def mbart50_dir(tmp_path_factory: pytest.TempPathFactory, fairseq_spm: bytes) -> Path:
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    source = tmp_path_factory.mktemp("mbart50-spm")
    (source / "sentencepiece.bpe.model").write_bytes(fairseq_spm)
    tokenizer = MBart50Tokenizer.from_pretrained(source)
    config = _bart_layers(MBartConfig, len(tokenizer), max_position_embeddings=128, **FAIRSEQ_IDS)
    _seed()
    return _save(tmp_path_factory.mktemp("mbart50"), tokenizer, MBartForConditionalGeneration(config))


@pytest.fixture(scope="session")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> Path:
    """NLLB is the M2M100 architecture with its own tokenizer and language codes."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    vocab, merges = _train_bpe(corpus, ["<s>", "<pad>", "</s>", "<unk>"], byte_level=False)
    tokenizer = NllbTokenizer(vocab=vocab, merges=merges)
    config = _bart_layers(M2M100Config, len(tokenizer), max_position_embeddings=128, **FAIRSEQ_IDS)
    _seed()
    return _save(tmp_path_factory.mktemp("nllb"), tokenizer, M2M100ForConditionalGeneration(config))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the session, so that each tiny model is converted for CTranslate2 once."""
    return tmp_path_factory.mktemp("model-cache")
