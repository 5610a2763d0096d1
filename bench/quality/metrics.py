"""Scores against references: ROUGE-1/2/L F1 for summaries, chrF and BLEU for translations.

rouge-score's own tokenizer keeps only a-z and 0-9, so a French summary loses every accented
word and a Russian, Arabic or Chinese one scores zero whatever it says. It is kept for English
(with the Porter stemmer, as usual); other languages are split into Unicode words, and scripts
written without spaces (Chinese, Japanese, Thai) into single characters. Every score is 0..100.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Languages whose words are not separated by spaces: scored character by character.
CHARACTER_LANGUAGES = frozenset({"zh", "ja", "th"})
_NO_SPACE_CHARS = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One no-space character, or a run of other letters and digits.
_CHARACTER_TOKEN = re.compile(rf"[{_NO_SPACE_CHARS}]|[^\W_{_NO_SPACE_CHARS}]+")
_WORD_TOKEN = re.compile(r"[^\W_]+")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _normalize(text: str) -> str:
    """NFKC, case-folded, without combining marks (Arabic short vowels, stray accents)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def unicode_words(text: str) -> list[str]:
    """Words of any script, lower-cased: "Grève à Saint-Nazaire" -> ["grève", "à", "saint", "nazaire"]."""
    return _WORD_TOKEN.findall(_normalize(text))


def characters(text: str) -> list[str]:
    """Each CJK or Thai character alone; runs of other letters or digits as words."""
    return _CHARACTER_TOKEN.findall(_normalize(text))


def tokens_for(language: str) -> Any:
    """The tokenize function ROUGE uses for `language` (None: rouge-score's own, for English)."""
    if language == "en":
        return None
    return characters if language in CHARACTER_LANGUAGES else unicode_words


class _Tokenizer:
    """The object rouge-score expects: anything with a tokenize(text) method."""

    def __init__(self, split: Any) -> None:
        self.tokenize = split


@lru_cache(maxsize=8)
def _scorer(language: str) -> Any:
    from rouge_score import rouge_scorer

    split = tokens_for(language)
    if split is None:
        return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_Tokenizer(split))


@dataclass(frozen=True)
class Rouge:
    """F1 of ROUGE-1, ROUGE-2 and ROUGE-L, 0..100."""

    r1: float
    r2: float
    rl: float


def rouge(summary: str, references: Sequence[str], language: str) -> Rouge:
    """ROUGE F1 of `summary` against the best-matching reference, per ROUGE type."""
    if not references:
        raise ValueError("at least one reference is needed")
    scores = _scorer(language).score_multi(list(references), summary)
    return Rouge(*(100 * scores[kind].fmeasure for kind in ROUGE_TYPES))


def bleu_tokenizer(language: str) -> str:
    """sacrebleu's tokenizer for a target language: its Chinese one, characters for ja/th, else 13a."""
    if language == "zh":
        return "zh"
    return "char" if language in CHARACTER_LANGUAGES else "13a"


@dataclass(frozen=True)
class TranslationScore:
    """Corpus chrF and BLEU of several translations into one language, 0..100."""

    language: str
    count: int
    chrf: float
    bleu: float


def translation_score(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], language: str
) -> TranslationScore:
    """Corpus-level chrF and BLEU; `references[i]` holds one or more references of `hypotheses[i]`."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError("give one list of references per hypothesis, and at least one hypothesis")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    # sacrebleu wants reference streams: streams[k][i] is the k-th reference of segment i.
    depth = max(len(refs) for refs in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(depth)]
    hyps = list(hypotheses)
    chrf = CHRF().corpus_score(hyps, streams).score  # type: ignore[arg-type]
    bleu = BLEU(tokenize=bleu_tokenizer(language)).corpus_score(hyps, streams).score  # type: ignore[arg-type]
    return TranslationScore(language, len(hyps), chrf, bleu)


def chrf(hypothesis: str, references: Sequence[str]) -> float:
    """chrF of one text against its references, 0..100."""
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(hypothesis, list(references)).score
