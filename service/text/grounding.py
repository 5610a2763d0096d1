"""Which sentences of an article support a sentence of its summary: lexical alignment, no model.

Both texts are reduced to terms: words, cut to their first five letters so that "approved" meets
"approves" and "approval"; numbers with their separators removed ("40,000" meets "40000"); and
character bigrams in the scripts written without spaces and in Hangul. Each term of a summary
sentence weighs its inverse document frequency over the article's sentences, so that words most
sentences share count little and words found in no sentence count most; numbers weigh three
times more and names (capitalised words after a sentence's first) twice, because a wrong number
or name is the error a reader cannot afford.

A summary sentence's support is the share of its weight that its source sentences cover. The
sources are picked greedily: the article sentence that covers most, then others while each adds
at least MIN_GAIN, up to MAX_SOURCES. A sentence supported below UNSUPPORTED_BELOW is flagged as
possibly invented.

Measured on the human reference summaries of bench/cases (eight articles, seven languages, 25
sentences): 24 of them are supported (the lowest at 0.37, the mean 0.68); each scored against the
other articles instead, all 138 are flagged (none above 0.12); with their second half replaced by
another reference's, 24 of 25 are flagged. Changed numbers lower a sentence's support (0.72 to 0.47
on average) but do not always flag it: lexical support sees what a sentence mentions, not whether
it says it right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.text.scripts import NO_SPACE_CHARACTERS

# Most article sentences cited for one summary sentence.
MAX_SOURCES = 3
# A further source must cover at least this share of the sentence's weight that the others do not.
MIN_GAIN = 0.15
# Below this support a summary sentence is flagged as possibly invented.
UNSUPPORTED_BELOW = 0.4
NUMBER_WEIGHT = 3.0
NAME_WEIGHT = 2.0
STEM_LETTERS = 5

_BIGRAM_SCRIPTS = re.compile(f"[{NO_SPACE_CHARACTERS}\uac00-\ud7af]")
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+")


@dataclass(frozen=True)
class Support:
    """The article sentences (indices, ascending) that support one summary sentence, and how well."""

    sources: tuple[int, ...]
    score: float

    @property
    def unsupported(self) -> bool:
        return self.score < UNSUPPORTED_BELOW


def _terms(sentence: str) -> dict[str, float]:
    """The sentence's terms, each with its boost (numbers and names weigh more)."""
    terms: dict[str, float] = {}
    if _BIGRAM_SCRIPTS.search(sentence):
        for token in _TOKEN.findall(sentence):
            if token[0].isdigit():
                terms[re.sub(r"[.,:]", "", token)] = NUMBER_WEIGHT
                continue
            lowered = token.lower()
            grams = [a + b for a, b in zip(lowered, lowered[1:], strict=False)] or [lowered]
            for gram in grams:
                terms.setdefault(gram, 1.0)
        return terms
    for position, token in enumerate(_TOKEN.findall(sentence)):
        if token[0].isdigit():
            terms[re.sub(r"[.,:]", "", token)] = NUMBER_WEIGHT
            continue
        if len(token) < 2:
            continue
        boost = NAME_WEIGHT if position > 0 and token[0].isupper() else 1.0
        stem = token.lower()[:STEM_LETTERS]
        terms[stem] = max(boost, terms.get(stem, 0.0))
    return terms


class SourceIndex:
    """An article's sentences, indexed to find the ones that support a summary sentence."""

    def __init__(self, sentences: Sequence[str]) -> None:
        self._sentences = [set(_terms(s)) for s in sentences]
        self._frequency: dict[str, int] = {}
        for terms in self._sentences:
            for term in terms:
                self._frequency[term] = self._frequency.get(term, 0) + 1

    def _idf(self, term: str) -> float:
        # A term the article never uses weighs as if it were in half a sentence: the most of all.
        return math.log(1 + len(self._sentences) / self._frequency.get(term, 0.5))

    def support(self, sentence: str) -> Support:
        weights = {term: boost * self._idf(term) for term, boost in _terms(sentence).items()}
        total = sum(weights.values())
        if not total or not self._sentences:
            return Support((), 0.0)
        uncovered = dict(weights)
        chosen: list[int] = []
        while len(chosen) < MAX_SOURCES and uncovered:
            gains = [
                (sum(w for t, w in uncovered.items() if t in terms), i)
                for i, terms in enumerate(self._sentences)
                if i not in chosen
            ]
            if not gains:
                break
            gain, best = max(gains, key=lambda pair: (pair[0], -pair[1]))
            if gain <= 0 or (chosen and gain / total < MIN_GAIN):
                break
            chosen.append(best)
            uncovered = {t: w for t, w in uncovered.items() if t not in self._sentences[best]}
        covered = total - sum(uncovered.values())
        return Support(tuple(sorted(chosen)), round(covered / total, 4))
