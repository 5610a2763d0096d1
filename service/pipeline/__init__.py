"""Detect -> split/chunk -> summarize -> translate, in pure Python over the model protocols."""

from service.pipeline.summarize import SummarizationPipeline
from service.pipeline.types import (
    LanguageFailure,
    LanguageSummary,
    Length,
    Limits,
    Mode,
    ProfileInfo,
    SourceLanguage,
    SummarizeJob,
    SummaryEvent,
    SummaryOptions,
    SummarySentence,
    TranslateJob,
    TranslateResult,
    TranslationFailure,
    TranslationItem,
)

__all__ = [
    "LanguageFailure",
    "LanguageSummary",
    "Length",
    "Limits",
    "Mode",
    "ProfileInfo",
    "SourceLanguage",
    "SummarizationPipeline",
    "SummarizeJob",
    "SummaryEvent",
    "SummaryOptions",
    "SummarySentence",
    "TranslateJob",
    "TranslateResult",
    "TranslationFailure",
    "TranslationItem",
]
