"""Extractive summaries with no weights, for any language the splitter covers: news-aware sentence
ranking (position and centrality), then a pick that does not say the same thing twice.

Sentences are compared by the cosine of their tf-idf term vectors (words of four letters or
more, or character bigrams for scripts written without spaces). A sentence's relevance mixes:

- position: news puts its key facts first (the lead), so early sentences get a prior that
  decays with their rank in the article;
- centrality: its TextRank score (PageRank on the similarity graph), scaled to 0..1.

The position prior only counts in full for a sentence that is connected to the rest of the
article (its centrality at least the article's median): an anecdotal opening or the procedure
before the news in a chronological report loses its head start to the central sentences that
come later. Long sentences are mildly penalised, since a summary has room for few words.
Sentences are then picked best first, passing over one that mostly repeats a sentence already
picked (cosine at or above `max_overlap`) and short fragments (datelines, bylines). The chosen
sentences are returned in their original order with their offsets in the source text.

The request's stop signal (`GenerationParams.should_stop`) is checked between paragraphs, sentences and
PageRank iterations: a long article's ranking is abandoned when its caller has gone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from service.errors import ModelLoadError
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
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
# Words shorter than this are left out of the term vectors: in Latin, Cyrillic and Greek scripts
# they are mostly function words ("the", "de", "und", "что"), which made every pair of sentences
# look alike. Arabic words are short (three-letter roots) and keep a length of 2.
_MIN_WORD_CHARS = 4
_MIN_ARABIC_WORD_CHARS = 2


def _terms(text: str) -> Counter[str]:
    lowered = text.lower()
    if _BIGRAM_SCRIPTS.search(lowered):
        chars = [c for c in lowered if c.isalnum()]
        return Counter(a + b for a, b in zip(chars, chars[1:], strict=False)) or Counter(chars)
    shortest = _MIN_ARABIC_WORD_CHARS if _ARABIC_SCRIPT.search(lowered) else _MIN_WORD_CHARS
    return Counter(w for w in _WORD.findall(lowered) if len(w) >= shortest or w.isdigit())


def _never() -> None:
    return None


def _term_vectors(sentences: Sequence[Sentence], checkpoint: Callable[[], None] = _never) -> np.ndarray:
    """One unit-length tf-idf row per sentence (a zero row for a sentence without terms)."""
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
    return matrix / np.where(norms == 0, 1, norms)


@dataclass(frozen=True)
class RankingOptions:
    """The ranking's knobs; a profile may set them in the extractive model's options.

    The defaults were chosen on news articles with human summaries in English, French and German
    (CNN/Daily Mail, OrangeSum, 20 Minuten) and on the project's own cases, two of which are not
    lead-heavy; see bench/QUALITY.md.
    """

    #: Share of a sentence's relevance that comes from its position (0: centrality only).
    position_weight: float = 0.75
    #: The position prior is 1 / (1 + rank / position_halflife): the lead sentence gets 1,
    #: sentence number `position_halflife` gets 1/2.
    position_halflife: float = 1.0
    #: Longer-than-median sentences have their relevance scaled by (median / length) ** this:
    #: a long sentence must carry more to be worth its length in a short summary.
    length_penalty: float = 0.2
    #: A sentence whose cosine similarity to one already picked reaches this says the same thing
    #: again and is passed over (unless nothing else is left).
    max_overlap: float = 0.5
    #: Sentences with fewer terms than this (datelines, bylines, captions) are not picked
    #: while longer ones remain.
    min_terms: int = 4

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any]) -> RankingOptions:
        """The options of a model spec; unknown keys and values out of range are refused."""
        known = {f.name: f for f in fields(cls)}
        extra = sorted(set(options) - set(known) - _SPEC_KEYS)
        if extra:
            raise ModelLoadError(f"model {name}: unknown extractive options {extra}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key, field_ in known.items():
            if key not in options:
                continue
            value = options[key]
            integral = field_.type in (int, "int")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (integral and not isinstance(value, int))
            ):
                kind = "an integer" if integral else "a number"
                raise ModelLoadError(f"model {name}: option {key} must be {kind}, got {value!r}")
            low, high = _BOUNDS[key]
            if not low <= value <= high:
                raise ModelLoadError(f"model {name}: option {key} must be {low}..{high}, got {value}")
            values[key] = int(value) if integral else float(value)
        return cls(**values)


# Keys every model spec's options may carry, whatever the backend.
_SPEC_KEYS = frozenset({"runtime"})
_BOUNDS: dict[str, tuple[float, float]] = {
    "position_weight": (0.0, 1.0),
    "position_halflife": (0.1, 1000.0),
    "length_penalty": (0.0, 4.0),
    "max_overlap": (0.0, 1.0),
    "min_terms": (0, 100),
}


def centrality(
    sim: np.ndarray, *, damping: float = 0.85, iterations: int = 50, checkpoint: Callable[[], None] = _never
) -> np.ndarray:
    """TextRank scores (PageRank over the similarity graph), one per sentence.

    `checkpoint` is called between iterations; it raises to abandon the ranking."""
    n = sim.shape[0]
    if n == 0:
        return np.zeros(0)
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
    return scores


def relevance(
    sentences: Sequence[Sentence],
    options: RankingOptions = RankingOptions(),
    checkpoint: Callable[[], None] = _never,
) -> tuple[np.ndarray, np.ndarray]:
    """(relevance per sentence, sentence-by-sentence cosine similarity).

    (1 - w) * centrality + w * position prior * connection, times a length factor. The
    connection (the sentence's centrality against the article's median, at most 1) keeps the
    position prior from carrying an opening sentence that shares nothing with the rest of the
    article: an anecdote, a scene, the procedure before the news. `checkpoint` is called between
    sentences and iterations; it raises to abandon the ranking.
    """
    n = len(sentences)
    if n == 0:
        return np.zeros(0), np.zeros((0, 0))
    vectors = _term_vectors(sentences, checkpoint)
    sim = vectors @ vectors.T
    np.fill_diagonal(sim, 0.0)
    central = centrality(sim, checkpoint=checkpoint)
    typical = float(np.median(central))
    connection = np.clip(central / typical, 0.0, 1.0) if typical > 0 else np.ones(n)
    top = central.max()
    central = central / top if top > 0 else central
    prior = 1.0 / (1.0 + np.arange(n) / options.position_halflife)
    weight = options.position_weight
    scores = (1 - weight) * central + weight * prior * connection
    sizes = np.array([max(sum(_terms(s.text).values()), 1) for s in sentences], dtype=np.float64)
    scores *= np.clip(np.median(sizes) / sizes, 0.0, 1.0) ** options.length_penalty
    return scores, sim


def pick_sentences(
    sentences: Sequence[Sentence],
    count: int,
    options: RankingOptions = RankingOptions(),
    checkpoint: Callable[[], None] = _never,
) -> list[int]:
    """Indexes of the `count` sentences to keep, in article order: the most relevant first,
    passing over short fragments and sentences that repeat one already picked."""
    n = len(sentences)
    if n == 0 or count <= 0:
        return []
    scores, sim = relevance(sentences, options, checkpoint)
    sizes = np.array([sum(_terms(s.text).values()) for s in sentences])
    order = [int(i) for i in np.argsort(-scores, kind="stable")]  # the earlier sentence wins a tie
    chosen: list[int] = []
    # First pass: full sentences that add something; then whatever is left, best first.
    for strict in (True, False):
        for i in order:
            if len(chosen) == min(count, n):
                return sorted(chosen)
            if i in chosen:
                continue
            if strict and (
                sizes[i] < options.min_terms
                or (chosen and float(sim[i, chosen].max()) >= options.max_overlap)
            ):
                continue
            chosen.append(i)
    return sorted(chosen)


def rank_sentences(
    sentences: Sequence[Sentence],
    options: RankingOptions = RankingOptions(),
    *,
    checkpoint: Callable[[], None] = _never,
) -> np.ndarray:
    """Relevance of each sentence (position and centrality), before redundancy is considered."""
    return relevance(sentences, options, checkpoint)[0]


@register_backend("extractive")
class ExtractiveSummarizer:
    """Picks the sentences that carry the article's news (lead and centrality), unchanged."""

    max_input_tokens = 10**9  # reads the whole article; no model budget

    def __init__(self, spec: ModelSpec, context: LoadContext | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self._languages = frozenset(spec.languages)
        self.options = RankingOptions.from_options(spec.name, spec.options)

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
        chosen = pick_sentences(sentences, count, self.options, checkpoint)
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
