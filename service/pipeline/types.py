"""The pipeline's requests and results as plain dataclasses; `api/convert.py` maps them to protobuf."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from service.config import Settings
from service.models.base import ModelDescription, Span
from service.pipeline.evidence import Evidence
from service.text.detect import LanguageShare
from service.text.terminology import NO_TERMINOLOGY, Terminology, TermReport


class Mode(StrEnum):
    ABSTRACTIVE = "abstractive"
    EXTRACTIVE = "extractive"


class Length(StrEnum):
    SHORT = "short"
    MEDIUM = "medium"
    LONG = "long"


# Per preset: (most generated tokens, sentences for extractive summaries, prompts and the trim of abstractive
# ones). Enough tokens for the sentences: the trim, not the budget, ends a summary.
LENGTH_PRESETS: dict[Length, tuple[int, int]] = {
    Length.SHORT: (80, 2),
    Length.MEDIUM: (120, 3),
    Length.LONG: (240, 6),
}

MAX_TOKENS_RANGE = (1, 1024)
MAX_SENTENCES_RANGE = (1, 50)
NUM_BEAMS_RANGE = (1, 8)


@dataclass(frozen=True)
class SummaryOptions:
    mode: Mode = Mode.ABSTRACTIVE
    length: Length = Length.MEDIUM
    max_tokens: int | None = None
    max_sentences: int | None = None
    num_beams: int | None = None
    min_confidence: float = 0.0  # withhold summaries less confident than this; 0: none


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 100_000
    max_targets: int = 16
    max_translate_texts: int = 64
    # Model calls a repair may make on one output that fails its checks; 0: report, never repair.
    max_repair_attempts: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The server's limits: each field is the setting of the same name."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class SummarizeJob:
    text: str
    source_language: str = ""  # empty: detect
    target_languages: tuple[str, ...] = ()  # empty: the source language only
    options: SummaryOptions = SummaryOptions()
    request_id: str = ""
    is_html: bool = False
    terminology: Terminology = NO_TERMINOLOGY


@dataclass(frozen=True)
class SourceLanguage:
    language: str
    confidence: float
    declared: bool
    warnings: tuple[str, ...] = ()
    # Set only when the text mixes languages: each language's share of it, largest first.
    mixed: tuple[LanguageShare, ...] = ()


@dataclass(frozen=True)
class SummarySentence:
    """One sentence of a summary (`span` in the summary's text) and the article sentences behind it."""

    span: Span
    sources: tuple[Span, ...]  # into the submitted text
    support: float
    unsupported: bool


@dataclass(frozen=True)
class LanguageSummary:
    language: str
    text: str
    models: tuple[str, ...]
    translated_from: str = ""
    duration_ms: float = 0.0
    spans: tuple[Span, ...] = ()
    terms: tuple[TermReport, ...] = ()
    sentences: tuple[SummarySentence, ...] = ()
    evidence: Evidence = Evidence()


@dataclass(frozen=True)
class LanguageFailure:
    language: str
    error: Exception


SummaryEvent = SourceLanguage | LanguageSummary | LanguageFailure


@dataclass(frozen=True)
class TranslateJob:
    texts: tuple[str, ...]
    target_languages: tuple[str, ...]
    source_language: str = ""
    request_id: str = ""
    terminology: Terminology = NO_TERMINOLOGY
    min_confidence: float = 0.0  # withhold translations less confident than this; 0: none


@dataclass(frozen=True)
class TranslationItem:
    text_index: int
    language: str
    text: str
    models: tuple[str, ...]
    terms: tuple[TermReport, ...] = ()
    evidence: Evidence = Evidence()


@dataclass(frozen=True)
class TranslationFailure:
    """A translation not returned, and why (a confidence below the request's threshold)."""

    text_index: int
    language: str
    error: Exception


@dataclass(frozen=True)
class TranslateResult:
    source: SourceLanguage
    items: tuple[TranslationItem, ...]
    failures: tuple[TranslationFailure, ...] = ()


@dataclass(frozen=True)
class ProfileInfo:
    profile: str
    models: tuple[ModelDescription, ...]
    languages: tuple[str, ...] = field(default_factory=tuple)
