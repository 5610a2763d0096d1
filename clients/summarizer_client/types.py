"""The client's result types: plain dataclasses, so callers never touch protobuf.

`_convert.py` is the only module that builds them from responses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc


@dataclass(frozen=True, slots=True)
class DetectedLanguage:
    """A language as the server identified it (or as the caller declared it)."""

    language: str
    confidence: float
    declared: bool = False
    #: (language, share of the letters) when the text mixes languages; empty otherwise.
    mixed: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TextSpan:
    """Characters [start, end) of the submitted text, counted in code points."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class OutputIssue:
    """A problem the server's integrity checks found in an output."""

    #: "WRONG_LANGUAGE", "ECHO", "REPETITION", "OMISSION", "NUMBER_MISSING", "NUMBER_ALTERED",
    #: "NAME_MISSING" or "NAME_ALTERED" ("kind-N" for a kind this client does not know).
    kind: str
    detail: str
    #: Where: in the output, or in its source when `in_source`; None for the whole text.
    span: TextSpan | None = None
    in_source: bool = False


@dataclass(frozen=True, slots=True)
class Summary:
    """One language's summary."""

    language: str
    text: str
    models: list[str] = field(default_factory=list)
    translated_from: str = ""
    duration_ms: float = 0.0
    spans: list[TextSpan] = field(default_factory=list)
    issues: list[OutputIssue] = field(default_factory=list)
    #: How far to trust the text, 0..1 (the model's certainty times the checks' score).
    confidence: float = 0.0
    #: True when a failed check was repaired by translating sentences again.
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class LanguageFailure:
    """Why one target language could not be produced; the other languages went on."""

    language: str
    code: grpc.StatusCode
    message: str


@dataclass(frozen=True, slots=True)
class SummarizeResult:
    """Everything a Summarize call returned."""

    request_id: str
    source_language: DetectedLanguage
    summaries: list[Summary] = field(default_factory=list)
    failures: list[LanguageFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total_duration_ms: float = 0.0

    def get(self, language: str) -> Summary | None:
        """The summary in `language` (a tag as the server answered it), or None."""
        return next((s for s in self.summaries if s.language == language), None)


# Events of StreamSummarize, in the order the server sends them: one SourceLanguage,
# then one LanguageSummary or LanguageFailed per target language.


@dataclass(frozen=True, slots=True)
class SourceLanguage:
    """First event: the article's language, and any notes about the input."""

    request_id: str
    language: str
    confidence: float
    declared: bool = False
    warnings: list[str] = field(default_factory=list)
    #: (language, share of the letters) when the text mixes languages; empty otherwise.
    mixed: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LanguageSummary:
    """A target language's summary, sent as soon as it was ready."""

    request_id: str
    summary: Summary

    @property
    def language(self) -> str:
        return self.summary.language


@dataclass(frozen=True, slots=True)
class LanguageFailed:
    """A target language that failed."""

    request_id: str
    failure: LanguageFailure

    @property
    def language(self) -> str:
        return self.failure.language


StreamEvent = SourceLanguage | LanguageSummary | LanguageFailed


@dataclass(frozen=True, slots=True)
class Translation:
    """One source text in one target language."""

    text_index: int
    language: str
    text: str
    models: list[str] = field(default_factory=list)
    issues: list[OutputIssue] = field(default_factory=list)
    confidence: float = 0.0
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class TranslationFailure:
    """A translation the server did not return (one below `min_confidence`)."""

    text_index: int
    language: str
    code: grpc.StatusCode
    message: str


@dataclass(frozen=True, slots=True)
class TranslateResult:
    """Everything a Translate call returned; translations are text-major."""

    request_id: str
    source_language: DetectedLanguage
    translations: list[Translation] = field(default_factory=list)
    total_duration_ms: float = 0.0
    failures: list[TranslationFailure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LanguageScore:
    """A candidate language and its probability."""

    language: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Detection:
    """The most likely language of a text, and the runners-up, best first."""

    language: str
    confidence: float
    candidates: list[LanguageScore] = field(default_factory=list)
    #: (language, share of the letters) when the text mixes languages; empty otherwise.
    mixed: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LanguagePair:
    """A direction a translation model covers."""

    source: str
    target: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One loaded model. `tasks` holds "summarize" and/or "translate"."""

    name: str
    backend: str
    source: str
    runtime: str
    tasks: list[str] = field(default_factory=list)
    summary_languages: list[str] = field(default_factory=list)
    translation_pairs: list[LanguagePair] = field(default_factory=list)
    any_language: bool = False


@dataclass(frozen=True, slots=True)
class ModelsInfo:
    """The server's active model profile."""

    profile: str
    models: list[ModelInfo] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
