"""The service's own exceptions. No grpc here: `api/interceptors.py` maps them to status codes.

SummarizerError
├── InvalidInputError             INVALID_ARGUMENT   (names the field and the reason)
│   ├── UnsupportedLanguageError
│   └── UndeterminedLanguageError
├── OverloadedError               RESOURCE_EXHAUSTED
├── NotReadyError                 UNAVAILABLE
├── DeadlineError                 DEADLINE_EXCEEDED
├── CancelledError                CANCELLED
├── ConfigurationError            (start-up only: the process exits non-zero)
│   └── ModelLoadError
└── ModelError                    INTERNAL           (a model failed at run time)
"""

from __future__ import annotations


class SummarizerError(Exception):
    """Base of every error the service raises on purpose."""

    #: A short, stable, machine-readable reason, e.g. "EMPTY_TEXT".
    reason: str = "SUMMARIZER_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidInputError(SummarizerError):
    """The request is malformed: `field` says which part, `message` says why."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {message}", reason=reason)
        self.field = field
        self.description = message


class UnsupportedLanguageError(InvalidInputError):
    """A language tag is well formed but the active profile cannot handle it."""

    reason = "UNSUPPORTED_LANGUAGE"


class UndeterminedLanguageError(InvalidInputError):
    """The text has no letters to tell its language by, and none was declared."""

    reason = "UNDETERMINED_LANGUAGE"


class OverloadedError(SummarizerError):
    """Too much work is queued; the caller should retry after `retry_after_s`."""

    reason = "OVERLOADED"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotReadyError(SummarizerError):
    """The service is starting or shutting down."""

    reason = "NOT_READY"


class DeadlineError(SummarizerError):
    """The caller's deadline passed before the work finished."""

    reason = "DEADLINE_EXCEEDED"


class CancelledError(SummarizerError):
    """The caller went away; the work was stopped."""

    reason = "CANCELLED"


class ConfigurationError(SummarizerError):
    """A setting, profile or model source is wrong. Raised before the server starts."""

    reason = "BAD_CONFIGURATION"


class ModelLoadError(ConfigurationError):
    """A model could not be loaded; the message says which one and how to fix it."""

    reason = "MODEL_LOAD_FAILED"


class ModelError(SummarizerError):
    """A loaded model failed while running. Details go to the log, never to the caller."""

    reason = "MODEL_FAILED"
