"""A thin client for the multilingual summarizer gRPC service, blocking or asyncio.

from summarizer_client import SummarizerClient

with SummarizerClient("127.0.0.1:50051") as client:
    client.wait_ready(60)
    for event in client.stream_summarize(article, ["fr", "de"]):
        ...

`AsyncSummarizerClient` offers the same calls on grpc.aio. Both retry UNAVAILABLE (a replica
draining or restarting), spread calls over every address of the target (round robin), and raise
`SummarizerClientError` subclasses that carry what the server sent: `.reason`,
`.field_violations`, `.retry_after` and `.request_id`.
"""

from ._channel import tls_credentials
from .aio import AsyncSummarizerClient
from .client import SummarizerClient
from .errors import (
    DeadlineExceededError,
    FieldViolation,
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
    "AsyncSummarizerClient",
    "DeadlineExceededError",
    "DetectedLanguage",
    "Detection",
    "FieldViolation",
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
    "tls_credentials",
]
