"""The evidence every output carries: what the integrity checks found, a confidence, a repair mark.

Every summary and translation the pipeline returns is checked against its source by
`service.checks` (model-free) and given a confidence between 0 and 1:

    confidence = certainty × check_score(issues)
    certainty  = exp(1.5 × mean log-probability of the generated tokens)

`certainty` rests on the geometric mean of the probabilities the model gave its own output tokens
(exp of the mean log-probability): length-normalised, so that a long output is not less certain
for being long. Raised to the power CERTAINTY_EXPONENT (1.5), it is on the scale of chrF/100: the
exponent was fitted on the evaluation data (human references of news sentences, the embedded
profile), as the one that brings the confidence closest to the outputs' chrF against the references
(least squares); it also ranks them better than the plain geometric mean did (docs/confidence.md).
A model that reports no scores (the extractive summarizer; a backend without them) has certainty
1, and the confidence is the check score alone. `check_score` is 1 with no issue; each issue multiplies it by
(1 - the weight of its kind), a kind already found counting half as much each further time
(`service.checks.findings.KIND_WEIGHTS`: 0.9 for a wrong language or an echo, down to 0.2 for a
missing name).

A text made of pieces (chunks of a long text, sentences translated again by a repair) has the
length-weighted mean log-probability of its pieces; a text translated through English has the
sum of its two hops' (the product of their certainties). A summary translated into another
language has its translation's confidence times that of the summary it was translated from.

`screen` withholds an output whose confidence is below the request's `min_confidence`.
docs/confidence.md has the figures that show what each confidence band means in quality.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.checks import Finding, check_score, check_summary
from service.errors import InvalidInputError, LowConfidenceError, Reason
from service.models.base import ScoredText, SummaryText

__all__ = [  # ScoredText is the models' type; the pipeline combines and passes it on
    "CheckedOutput",
    "Evidence",
    "ScoredText",
    "certainty",
    "chained_log_prob",
    "check_min_confidence",
    "evidence_of",
    "joined_log_prob",
    "screen",
    "summary_evidence",
    "translated_summary_evidence",
]
from service.text.detect import LanguageDetector


@dataclass(frozen=True)
class Evidence:
    """What the checks found in an output, how far to trust it, and whether a repair changed it."""

    issues: tuple[Finding, ...] = ()
    confidence: float = 1.0
    repaired: bool = False
    # Model calls a repair made on the output (0: it passed the checks, or could not be retried).
    repair_attempts: int = 0
    # The model's factor of `confidence` (1: no scores); the rest is the check score.
    certainty: float = 1.0


@dataclass(frozen=True)
class CheckedOutput:
    """An output ready to return: its text and its evidence."""

    text: str
    evidence: Evidence = Evidence()
    # Models of another route whose translations a repair kept: they wrote part of `text` too.
    repair_models: tuple[str, ...] = ()
    # For a text translated sentence by sentence: sentence i of `text`, the translation of source
    # sentence i (repaired ones included); empty otherwise.
    sentences: tuple[str, ...] = ()

    def models(self, route_models: tuple[str, ...]) -> tuple[str, ...]:
        """Every model that wrote the text: the route's, then those a repair brought in."""
        return tuple(dict.fromkeys((*route_models, *self.repair_models)))


# See the module docstring: fitted on the evaluation data, and documented with its figures.
CERTAINTY_EXPONENT = 1.5


def certainty(log_prob: float | None) -> float:
    """exp(CERTAINTY_EXPONENT × mean log-probability per token); 1 when the model reported no score."""
    if log_prob is None:
        return 1.0
    return min(1.0, max(0.0, math.exp(CERTAINTY_EXPONENT * log_prob)))


def evidence_of(
    findings: Iterable[Finding], log_prob: float | None, *, repaired: bool = False, attempts: int = 0
) -> Evidence:
    issues = tuple(findings)
    model = certainty(log_prob)
    return Evidence(issues, model * check_score(issues), repaired, attempts, model)


def joined_log_prob(pieces: Sequence[ScoredText]) -> float | None:
    """The mean log-probability of pieces joined into one text, each weighted by its length.

    Pieces without a score are left out; None when none has one.
    """
    scored = [(p.log_prob, max(1, len(p.text))) for p in pieces if p.log_prob is not None]
    if not scored:
        return None
    return sum(score * weight for score, weight in scored) / sum(weight for _, weight in scored)


def chained_log_prob(first: float | None, second: float | None) -> float | None:
    """The log-probability of a text translated twice (through English): the hops' sum."""
    if first is None:
        return second
    if second is None:
        return first
    return first + second


def summary_evidence(
    article: str, summary: ScoredText | SummaryText, language: str, detector: LanguageDetector | None
) -> Evidence:
    """A summary checked against the article it summarizes, in the same language."""
    return evidence_of(check_summary(article, summary.text, language, detector=detector), summary.log_prob)


def translated_summary_evidence(base: Evidence, translation: Evidence) -> Evidence:
    """A summary translated from a base summary: the translation's issues, both confidences together."""
    return Evidence(
        translation.issues,
        base.confidence * translation.confidence,
        translation.repaired,
        translation.repair_attempts,
        base.certainty * translation.certainty,
    )


def check_min_confidence(value: float, field: str) -> float:
    """A request's `min_confidence`, validated: 0..1 (0: no threshold)."""
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise InvalidInputError(field, f"must be 0..1, got {value}", reason=Reason.OUT_OF_RANGE)
    return value


def screen(evidence: Evidence, min_confidence: float, what: str) -> LowConfidenceError | None:
    """The error that withholds an output below `min_confidence`, or None when it may be returned."""
    if min_confidence > 0 and evidence.confidence < min_confidence:
        return LowConfidenceError(what, evidence.confidence, min_confidence)
    return None
