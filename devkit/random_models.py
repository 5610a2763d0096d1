"""Seq2seq model folders with random weights, built from a config, with tokenizers trained on the seeds.

Nothing is downloaded. The model tests build tiny ones (`TINY` layers, a vocabulary the seeds fill), so
that each builds and runs in well under a second; the benchmark builds ones of a hub checkpoint's shape,
with the vocabulary padded out to the checkpoint's size. The caller chooses the shape (`architecture`:
config values) and the generation defaults; a builder owns the layout of its family (the tokenizer's
files, where the special tokens sit, the ids the config names). Each writes a folder with
save_pretrained(), which the service loads through its ordinary `source = "<folder>"` path, and
returns the model's parameter count.

torch, transformers, sentencepiece and tokenizers are imported inside the builders: importing this
module needs none of them, so that the model tests can skip themselves without the models extra.
"""

from __future__ import annotations

import io
import json
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
# Random weights, but the same ones every run.
SEED = 0
# Added to the output scores of the filler entries that pad a vocabulary. See _ban_fillers.
_FILLER_BIAS = -1e4

# The config's token ids that an explicit generation config repeats.
GENERATION_IDS = frozenset(
    {"bos_token_id", "pad_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id"}
)

# A few lines with accented letters, for a corpus that must hold them whatever the seeds are.
ACCENTED_LINES = (
    "The council met on Monday and approved the budget for the coming year.",
    "Le conseil s'est réuni lundi et a approuvé le budget de l'année prochaine.",
    "Der Rat tagte am Montag und billigte den Haushalt für das kommende Jahr.",
    "El consejo se reunió el lunes y aprobó el presupuesto del próximo año.",
)

BART_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# The ids fairseq-converted checkpoints use: BART, M2M100, mBART-50 and NLLB.
FAIRSEQ_IDS = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}


@dataclass(frozen=True)
class Layers:
    """A transformer's size, the same on both sides."""

    d_model: int
    layers: int
    heads: int
    ffn: int

    def bart_layout(self) -> dict[str, int]:
        """As config values in the layout BART, mBART, Marian and M2M100 share."""
        return {
            "d_model": self.d_model,
            "encoder_layers": self.layers,
            "decoder_layers": self.layers,
            "encoder_attention_heads": self.heads,
            "decoder_attention_heads": self.heads,
            "encoder_ffn_dim": self.ffn,
            "decoder_ffn_dim": self.ffn,
        }

    def t5_layout(self) -> dict[str, int]:
        return {
            "d_model": self.d_model,
            "d_kv": self.d_model // self.heads,
            "d_ff": self.ffn,
            "num_layers": self.layers,
            "num_decoder_layers": self.layers,
            "num_heads": self.heads,
        }


# Small enough to build and run in well under a second; the shapes are what the model tests exercise.
TINY = Layers(d_model=16, layers=1, heads=2, ffn=32)


# -- corpus and tokenizers -------------------------------------------------------------------------


def seed_lines() -> list[str]:
    """Every non-empty line of the seed articles, wrapped so that sentencepiece accepts each one."""
    lines: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            # sentencepiece skips sentences longer than 4192 bytes.
            lines.extend(textwrap.wrap(line.strip(), 1000))
    return [line for line in lines if line]


def corpus_vocab_size(lines: Sequence[str]) -> int:
    """A vocabulary the corpus can fill: a piece for each distinct character (CJK seeds bring hundreds),
    plus room for subwords."""
    return max(400, int(len(set("".join(lines))) * 1.1) + 100)


def train_sentencepiece(lines: Sequence[str], *, vocab_size: int | None = None, **options: Any) -> bytes:
    """A sentencepiece model proto; the vocabulary is what the corpus gives, up to `vocab_size`."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size if vocab_size is not None else corpus_vocab_size(lines),
        hard_vocab_limit=False,
        num_threads=2,
        minloglevel=2,
        **options,
    )
    return model.getvalue()


def spm_pieces(proto: bytes) -> list[str]:
    """A sentencepiece model's subword pieces, without its control symbols."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=proto)
    return [
        processor.id_to_piece(i)
        for i in range(processor.get_piece_size())
        if not (processor.is_control(i) or processor.is_unknown(i))
    ]


def train_bpe(
    lines: Sequence[str], specials: Sequence[str], *, byte_level: bool, vocab_size: int | None = None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A `tokenizers` BPE model: (vocab, merges), the specials first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    if byte_level:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        alphabet = []
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size if vocab_size is not None else corpus_vocab_size(lines) + len(alphabet),
        special_tokens=list(specials),
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer)
    state = json.loads(tokenizer.to_str())["model"]
    return state["vocab"], [(first, second) for first, second in state["merges"]]


def _pad_vocab(vocab: dict[str, int], size: int, prefix: str) -> int:
    """Add fillers `<prefix>x0`, `<prefix>x1`, ... until the vocabulary has `size`; returns the first's id."""
    first = len(vocab)
    filler = 0
    while len(vocab) < size:
        vocab.setdefault(f"{prefix}x{filler}", len(vocab))
        filler += 1
    return first


# -- shared steps ----------------------------------------------------------------------------------


def _config(config_cls: Any, architecture: Mapping[str, Any], layout: Mapping[str, Any]) -> Any:
    """The caller's shape with the builder's layout; a value that both set must agree."""
    clashes = {
        k: (architecture[k], v) for k, v in layout.items() if k in architecture and architecture[k] != v
    }
    if clashes:
        raise ValueError(f"the architecture disagrees with the {config_cls.__name__} layout: {clashes}")
    return config_cls(**{**architecture, **layout})


def _seed_weights() -> None:
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


def _random_model(
    model_cls: Any,
    config_cls: Any,
    architecture: Mapping[str, Any],
    layout: Mapping[str, Any],
    fillers: tuple[int, int] | None = None,
) -> Any:
    """The model with seeded random weights; `fillers` (first, end) are kept out of its outputs."""
    config = _config(config_cls, architecture, layout)
    _seed_weights()
    model = model_cls(config)
    if fillers is not None:
        _ban_fillers(model, *fillers)
    return model


def _tokenizer_sizing(model_max_length: int | None) -> dict[str, Any]:
    return {} if model_max_length is None else {"model_max_length": model_max_length}


def _finish(
    folder: Path, tokenizer: Any, model: Any, layout: Mapping[str, Any], generation: Mapping[str, Any] | None
) -> int:
    """Set the generation defaults (the layout's ids and the caller's settings), save, count parameters."""
    from transformers import GenerationConfig

    if generation is not None:
        ids = {k: v for k, v in layout.items() if k in GENERATION_IDS}
        model.generation_config = GenerationConfig(**{**ids, **generation})
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


# -- the families ----------------------------------------------------------------------------------


def build_marian(
    folder: Path,
    proto: bytes,
    *,
    architecture: Mapping[str, Any],
    target_tokens: Sequence[str] = (),
    vocab_size: int | None = None,
    model_max_length: int | None = None,
    generation: Mapping[str, Any] | None = None,
) -> int:
    """A Marian (OPUS-MT) folder on one sentencepiece model for both sides.

    `target_tokens` (such as `>>fra<<`) choose the output language of a multi-target model. With
    `vocab_size`, fillers pad the vocabulary to it and the model is kept from writing them.
    """
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(proto)
    # OPUS-MT layout: </s>=0, <unk>=1, the target tokens, the pieces, any fillers, <pad> last.
    vocab = {"</s>": 0, "<unk>": 1}
    for token in (*target_tokens, *spm_pieces(proto)):
        vocab.setdefault(token, len(vocab))
    first_filler = _pad_vocab(vocab, vocab_size - 1, "▁") if vocab_size is not None else len(vocab)
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
        **_tokenizer_sizing(model_max_length),
    )
    pad = vocab["<pad>"]
    layout = {
        "vocab_size": len(vocab),
        "pad_token_id": pad,
        "eos_token_id": 0,
        "decoder_start_token_id": pad,
        "forced_eos_token_id": 0,
    }
    fillers = (first_filler, pad) if vocab_size is not None else None
    model = _random_model(MarianMTModel, MarianConfig, architecture, layout, fillers)
    return _finish(folder, tokenizer, model, layout, generation)


def build_bart(
    folder: Path,
    lines: Sequence[str],
    *,
    architecture: Mapping[str, Any],
    vocab_size: int | None = None,
    model_max_length: int | None = None,
    generation: Mapping[str, Any] | None = None,
) -> int:
    """A BART folder with a byte-level BPE tokenizer, as BART ships.

    With `vocab_size`, the tokenizer is trained up to it and fillers pad what the corpus does not fill;
    the model is kept from writing them.
    """
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer

    vocab, merges = train_bpe(lines, BART_SPECIALS, byte_level=True, vocab_size=vocab_size)
    # Fillers are reachable by no merge, so they only widen the output projection, as a real vocabulary
    # does. "Ġ" and ASCII letters are in the byte-level alphabet, so they decode cleanly.
    first_filler = _pad_vocab(vocab, vocab_size, "Ġ") if vocab_size is not None else len(vocab)
    if [vocab[t] for t in BART_SPECIALS[:4]] != [0, 1, 2, 3]:
        raise AssertionError(f"BART's special tokens moved: {[vocab[t] for t in BART_SPECIALS]}")
    # The tokenizers library's merges, as pairs; the constructor takes them as they are.
    tokenizer = BartTokenizer(vocab=vocab, merges=cast(Any, merges), **_tokenizer_sizing(model_max_length))
    if vocab_size is not None and len(tokenizer) != vocab_size:
        raise AssertionError(f"the tokenizer has {len(tokenizer)} entries, not {vocab_size}")
    layout = {"vocab_size": len(tokenizer), **FAIRSEQ_IDS}
    fillers = (first_filler, vocab_size) if vocab_size is not None else None
    model = _random_model(BartForConditionalGeneration, BartConfig, architecture, layout, fillers)
    return _finish(folder, tokenizer, model, layout, generation)


def build_t5(
    folder: Path, lines: Sequence[str], *, architecture: Mapping[str, Any], model_max_length: int = 256
) -> int:
    """A T5 folder with a sentencepiece unigram tokenizer in T5's ids (<pad>=0, </s>=1, <unk>=2)."""
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    # The tokenizer is loaded from a folder of its own and keeps reading its file until it is saved.
    with tempfile.TemporaryDirectory(prefix="t5-spm-") as source:
        (Path(source) / "spiece.model").write_bytes(
            train_sentencepiece(lines, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
        )
        tokenizer = T5Tokenizer.from_pretrained(source, extra_ids=0, model_max_length=model_max_length)
        layout = {
            "vocab_size": len(tokenizer),
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "decoder_start_token_id": tokenizer.pad_token_id,
        }
        model = _random_model(T5ForConditionalGeneration, T5Config, architecture, layout)
        return _finish(folder, tokenizer, model, layout, None)


def build_m2m100(folder: Path, proto: bytes, *, architecture: Mapping[str, Any]) -> int:
    """An M2M100 folder on a fairseq-style sentencepiece model, with its language tokens."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    (folder / "sentencepiece.bpe.model").write_bytes(proto)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in spm_pieces(proto):
        vocab.setdefault(piece, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = M2M100Tokenizer(
        vocab_file=str(folder / "vocab.json"), spm_file=str(folder / "sentencepiece.bpe.model")
    )
    # The tokenizer numbers its language tokens after the vocabulary, then leaves room for made-up words.
    vocab_size = max(tokenizer.lang_token_to_id.values()) + 1 + tokenizer.num_madeup_words
    layout = {"vocab_size": vocab_size, **FAIRSEQ_IDS}
    model = _random_model(M2M100ForConditionalGeneration, M2M100Config, architecture, layout)
    return _finish(folder, tokenizer, model, layout, None)


def build_mbart50(folder: Path, proto: bytes, *, architecture: Mapping[str, Any]) -> int:
    """An mBART-50 folder on a fairseq-style sentencepiece model, with its language codes."""
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    # As for T5: the tokenizer is loaded from a folder of its own, kept until the folder is saved.
    with tempfile.TemporaryDirectory(prefix="mbart50-spm-") as source:
        (Path(source) / "sentencepiece.bpe.model").write_bytes(proto)
        tokenizer = MBart50Tokenizer.from_pretrained(source)
        layout = {"vocab_size": len(tokenizer), **FAIRSEQ_IDS}
        model = _random_model(MBartForConditionalGeneration, MBartConfig, architecture, layout)
        return _finish(folder, tokenizer, model, layout, None)


def build_nllb(folder: Path, lines: Sequence[str], *, architecture: Mapping[str, Any]) -> int:
    """NLLB: the M2M100 architecture with its own BPE tokenizer and language codes."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    vocab, merges = train_bpe(lines, ["<s>", "<pad>", "</s>", "<unk>"], byte_level=False)
    tokenizer = NllbTokenizer(vocab=vocab, merges=cast(Any, merges))
    layout = {"vocab_size": len(tokenizer), **FAIRSEQ_IDS}
    model = _random_model(M2M100ForConditionalGeneration, M2M100Config, architecture, layout)
    return _finish(folder, tokenizer, model, layout, None)
