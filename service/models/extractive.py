"""Extractive summaries with no weights: TextRank over sentences, for any language the splitter covers.

Sentences are compared by the cosine of their term vectors (words, or character bigrams for
scripts written without spaces); PageRank on that graph picks the most central ones, which are
returned in their original order with their offsets in the source text. The request's stop signal
(`GenerationParams.should_stop`) is checked between paragraphs, sentences and PageRank iterations.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from service.models.base import (
    SUMMARIZE,
    GenerationParams,
    LoadContext,
    ModelDescription,
    ModelSpec,
    Span,
    SummaryText,
)
from service.models.decoding import generation_stopped
from service.models.registry import register_backend
from service.text.scripts import NO_SPACE_CHARACTERS, joiner
from service.text.sentences import Sentence, split_sentences

_WORD = re.compile(r"\w+", re.UNICODE)
# Terms are character bigrams in the scripts without spaces, and in Hangul too, where a word
# carries its particles and endings: bigrams match a word across them. (Korean sentences are
# still joined with spaces.)
_BIGRAM_SCRIPTS = re.compile(f"[{NO_SPACE_CHARACTERS}\uac00-\ud7af]")


def _terms(text: str) -> Counter[str]:
    lowered = text.lower()
    if _BIGRAM_SCRIPTS.search(lowered):
        chars = [c for c in lowered if c.isalnum()]
        return Counter(a + b for a, b in zip(chars, chars[1:], strict=False)) or Counter(chars)
    return Counter(w for w in _WORD.findall(lowered) if len(w) > 1)


def _never() -> None:
    return None


def _similarity_matrix(sentences: Sequence[Sentence], checkpoint: Callable[[], None] = _never) -> np.ndarray:
    bags = []
    for sentence in sentences:
        checkpoint()
        bags.append(_terms(sentence.text))
    # Inverse document frequency damps words every sentence shares.
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    n = len(bags)
    vocab = {term: i for i, term in enumerate(df)}
    matrix = np.zeros((n, max(len(vocab), 1)), dtype=np.float64)
    for row, bag in enumerate(bags):
        for term, count in bag.items():
            matrix[row, vocab[term]] = (1 + math.log(count)) * math.log(1 + n / df[term])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1, norms)
    sim = matrix @ matrix.T
    np.fill_diagonal(sim, 0.0)
    return sim


def rank_sentences(
    sentences: Sequence[Sentence],
    *,
    damping: float = 0.85,
    iterations: int = 50,
    checkpoint: Callable[[], None] = _never,
) -> np.ndarray:
    """TextRank scores, one per sentence, with a mild bonus for early sentences (news lead).

    `checkpoint` is called between sentences and iterations; it raises to abandon the ranking."""
    n = len(sentences)
    if n == 0:
        return np.zeros(0)
    sim = _similarity_matrix(sentences, checkpoint)
    out_weight = sim.sum(axis=1, keepdims=True)
    transition = np.divide(sim, out_weight, out=np.full_like(sim, 1.0 / n), where=out_weight > 0)
    scores = np.full(n, 1.0 / n)
    for _ in range(iterations):
        checkpoint()
        updated = (1 - damping) / n + damping * transition.T @ scores
        if np.abs(updated - scores).sum() < 1e-9:
            scores = updated
            break
        scores = updated
    position_bonus = 1.0 + 0.25 / (1.0 + np.arange(n))
    return scores * position_bonus


@register_backend("extractive")
class ExtractiveSummarizer:
    """Picks the most central sentences of the article, unchanged."""

    max_input_tokens = 10**9  # reads the whole article; no model budget

    def __init__(self, spec: ModelSpec, context: LoadContext | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self._languages = frozenset(spec.languages)

    def describe(self) -> ModelDescription:
        return ModelDescription(
            name=self.name,
            backend="extractive",
            source="",
            runtime="numpy",
            tasks=(SUMMARIZE,),
            summary_languages=tuple(sorted(self._languages)),
            any_language=not self._languages,
        )

    def warmup(self) -> None:
        self.summarize("One sentence. Another sentence here.", "en", GenerationParams(max_sentences=1))

    def summarizes(self, language: str) -> bool:
        return not self._languages or language in self._languages

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        checkpoint = _stop_check(params.should_stop)
        sentences = [s for s in split_sentences(text, language, checkpoint) if _terms(s.text)]
        if not sentences:
            return SummaryText(text="")
        count = max(1, min(params.max_sentences, len(sentences)))
        scores = rank_sentences(sentences, checkpoint=checkpoint)
        chosen = sorted(np.argsort(-scores, kind="stable")[:count].tolist())
        picked = [sentences[i] for i in chosen]
        return SummaryText(
            text=joiner(language).join(s.text for s in picked),
            spans=tuple(Span(s.start, s.end) for s in picked),
        )


def _stop_check(should_stop: Callable[[], bool] | None) -> Callable[[], None]:
    """A checkpoint that raises RequestCancelledError once `should_stop` says so."""

    def check() -> None:
        if should_stop is not None and should_stop():
            raise generation_stopped()

    return check
