"""The service's own exceptions and the one vocabulary of reasons a caller can see.

No grpc here: `api/status.py` maps each exception to a status code, and every `google.rpc.ErrorInfo.reason`
the server sends is a member of `Reason`.

SummarizerError
├── InvalidInputError             INVALID_ARGUMENT   (names the field and the reason)
│   ├── UnsupportedLanguageError
│   └── UndeterminedLanguageError
├── OverloadedError               RESOURCE_EXHAUSTED (with RetryInfo)
├── RequestTooLargeError          RESOURCE_EXHAUSTED (more memory than the server's whole budget)
├── NotReadyError                 UNAVAILABLE
├── DeadlineError                 DEADLINE_EXCEEDED
├── RequestCancelledError         CANCELLED
├── LowConfidenceError            FAILED_PRECONDITION (an output withheld by min_confidence)
├── UnauthenticatedError          UNAUTHENTICATED    (missing or wrong bearer token)
├── ConfigurationError            (start-up only: the process exits non-zero)
│   └── ModelLoadError
└── ModelError                    INTERNAL           (a model failed at run time)
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Every `ErrorInfo.reason` a caller can receive. Stable API: add members, never rename them."""

    # INVALID_ARGUMENT
    INVALID_ARGUMENT = "INVALID_ARGUMENT"  # a field is wrong in a way no narrower reason names
    EMPTY = "EMPTY"  # a list that must not be empty is empty
    EMPTY_TEXT = "EMPTY_TEXT"  # a text is empty or only whitespace
    TEXT_TOO_LONG = "TEXT_TOO_LONG"  # a text is over the server's character limit
    TOO_MANY = "TOO_MANY"  # a list has more items than the server's limit
    DUPLICATE_LANGUAGE = "DUPLICATE_LANGUAGE"  # two target tags name the same language
    DUPLICATE_TERM = "DUPLICATE_TERM"  # two glossary pairs give one term two forms in one language
    OUT_OF_RANGE = "OUT_OF_RANGE"  # a number is outside its documented bounds
    UNKNOWN_ENUM = "UNKNOWN_ENUM"  # an enum value this server does not know
    BAD_TAG = "BAD_TAG"  # not a BCP-47 language tag
    UNSUPPORTED_LANGUAGE = "UNSUPPORTED_LANGUAGE"  # a well-formed tag the active profile cannot serve
    UNDETERMINED_LANGUAGE = "UNDETERMINED_LANGUAGE"  # no language declared and none can be detected
    CONTROL_CHARACTERS = "CONTROL_CHARACTERS"  # NUL or another C0 control character in a text
    MALFORMED_REQUEST = "MALFORMED_REQUEST"  # the request bytes are not a valid message
    # Other codes
    OVERLOADED = "OVERLOADED"  # RESOURCE_EXHAUSTED: retry after the RetryInfo delay
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"  # RESOURCE_EXHAUSTED: more than the server's memory budget
    NOT_READY = "NOT_READY"  # UNAVAILABLE: loading or draining
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"  # DEADLINE_EXCEEDED
    CANCELLED = "CANCELLED"  # CANCELLED
    UNAUTHENTICATED = "UNAUTHENTICATED"  # UNAUTHENTICATED: missing or wrong bearer token
    LOW_CONFIDENCE = "LOW_CONFIDENCE"  # FAILED_PRECONDITION: an output fell below min_confidence
    MODEL_FAILED = "MODEL_FAILED"  # INTERNAL: a model failed at run time
    INTERNAL = "INTERNAL"  # INTERNAL: anything unexpected; the log has the request id
    # Start-up only; never sent to a caller
    SUMMARIZER_ERROR = "SUMMARIZER_ERROR"
    BAD_CONFIGURATION = "BAD_CONFIGURATION"
    MODEL_LOAD_FAILED = "MODEL_LOAD_FAILED"


class SummarizerError(Exception):
    """Base of every error the service raises on purpose."""

    #: A short, stable, machine-readable reason: a member of `Reason`.
    reason: Reason = Reason.SUMMARIZER_ERROR

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidInputError(SummarizerError):
    """The request is malformed: `field` says which part, `message` says why."""

    reason = Reason.INVALID_ARGUMENT

    def __init__(self, field: str, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(f"{field}: {message}", reason=reason)
        self.field = field
        self.description = message


class UnsupportedLanguageError(InvalidInputError):
    """A language tag is well formed but the active profile cannot handle it."""

    reason = Reason.UNSUPPORTED_LANGUAGE


class UndeterminedLanguageError(InvalidInputError):
    """The text has no letters to tell its language by, and none was declared."""

    reason = Reason.UNDETERMINED_LANGUAGE


class OverloadedError(SummarizerError):
    """Too much work is queued; the caller should retry after `retry_after_s`."""

    reason = Reason.OVERLOADED

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestTooLargeError(SummarizerError):
    """The request would need more memory than the server may use for all requests together.

    Retrying the same request cannot help: it needs a shorter text or fewer targets.
    """

    reason = Reason.REQUEST_TOO_LARGE


class NotReadyError(SummarizerError):
    """The service is starting or shutting down."""

    reason = Reason.NOT_READY


class DeadlineError(SummarizerError):
    """The caller's deadline passed before the work finished."""

    reason = Reason.DEADLINE_EXCEEDED


class RequestCancelledError(SummarizerError):
    """The caller went away; the work was stopped."""

    reason = Reason.CANCELLED


class LowConfidenceError(SummarizerError):
    """An output was made but withheld: its confidence is below the request's `min_confidence`."""

    reason = Reason.LOW_CONFIDENCE

    def __init__(self, what: str, confidence: float, threshold: float) -> None:
        super().__init__(
            f"{what} was withheld: its confidence {confidence:.3f} is below min_confidence {threshold:.3f}"
        )
        self.confidence = confidence
        self.threshold = threshold


class UnauthenticatedError(SummarizerError):
    """The call lacks the right bearer token. One fixed message, whatever was wrong with it."""

    reason = Reason.UNAUTHENTICATED


class ConfigurationError(SummarizerError):
    """A setting, profile or model source is wrong. Raised before the server starts."""

    reason = Reason.BAD_CONFIGURATION


class ModelLoadError(ConfigurationError):
    """A model could not be loaded; the message says which one and how to fix it."""

    reason = Reason.MODEL_LOAD_FAILED


class ModelError(SummarizerError):
    """A loaded model failed while running. Details go to the log, never to the caller."""

    reason = Reason.MODEL_FAILED
