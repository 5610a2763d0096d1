"""A thin, synchronous client for the multilingual summarizer gRPC service.

from summarizer_client import SummarizerClient

with SummarizerClient("127.0.0.1:50051") as client:
    client.wait_ready(60)
    for event in client.stream_summarize(article, ["fr", "de"]):
        ...
"""

from .client import SummarizerClient
from .errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    ResourceExhaustedError,
    SummarizerClientError,
    UnavailableError,
)
from .types import (
    DetectedLanguage,
    Detection,
    LanguageFailed,
    LanguageFailure,
    LanguagePair,
    LanguageScore,
    LanguageSummary,
    ModelInfo,
    ModelsInfo,
    OutputIssue,
    SourceLanguage,
    StreamEvent,
    SummarizeResult,
    Summary,
    TextSpan,
    TranslateResult,
    Translation,
    TranslationFailure,
)

__all__ = [
    "DeadlineExceededError",
    "DetectedLanguage",
    "Detection",
    "InvalidArgumentError",
    "LanguageFailed",
    "LanguageFailure",
    "LanguagePair",
    "LanguageScore",
    "LanguageSummary",
    "ModelInfo",
    "ModelsInfo",
    "OutputIssue",
    "ResourceExhaustedError",
    "SourceLanguage",
    "StreamEvent",
    "SummarizeResult",
    "SummarizerClient",
    "SummarizerClientError",
    "Summary",
    "TextSpan",
    "Translation",
    "TranslateResult",
    "TranslationFailure",
    "UnavailableError",
]
