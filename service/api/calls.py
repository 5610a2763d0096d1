"""The record of one call in progress, and the notes the layers below add to it.

The observability interceptor opens a `CallRecord` for each call and keeps it in a context
variable; the layers that know something about the call note it here: the error interceptor the
status and the refusal reason, the servicer the admission, the plan, the cache and each language
as it is ready. Per-call metrics and the language events of the trace are fed as the notes come
in; the rest waits for the call's end (service/api/observability.py). Outside a call (a servicer
under test without the interceptor) the notes do nothing.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from service import telemetry
from service.errors import DeadlineError, ModelError, RequestCancelledError, SummarizerError
from service.pipeline import LanguageFailure, LanguageSummary, SummaryEvent
from service.pipeline.summarize import Plan
from service.request_context import request_id_var


class CallMetrics(Protocol):
    """The per-call metrics (service/api/prometheus.py), and the observer for the pipeline's reports."""

    @property
    def observer(self) -> telemetry.Observer: ...

    def call_finished(self, rpc: str, code: str, duration_s: float, refusal: str | None) -> None: ...

    def admitted(self, wait_s: float) -> None: ...

    def language(self, language: str, ok: bool, elapsed_s: float, first_streamed: bool) -> None: ...


class CallTrace(telemetry.Observer, Protocol):
    """One call's span and its children (service/api/tracing.py)."""

    @property
    def trace_id(self) -> str: ...

    def language_ready(self, language: str, ok: bool) -> None: ...

    def end(self, code: grpc.StatusCode, attributes: dict[str, Any]) -> None: ...


class CallTracing(Protocol):
    def start(self, rpc: str, metadata: Sequence[tuple[str, Any]] | None) -> CallTrace: ...


@dataclass
class CallRecord:
    """What is known about one call so far."""

    rpc: str
    peer: str
    request_id: str
    text_chars: int
    targets: tuple[str, ...]
    source_language: str | None
    started: float = field(default_factory=time.perf_counter)
    trace_id: str | None = None
    code: grpc.StatusCode | None = None  # as the error interceptor decided it
    refusal: str | None = None  # the Reason of a refused call
    cached: bool | None = None  # None: the call never reached the cache
    languages_ready: int = 0
    metrics: CallMetrics | None = None
    trace: CallTrace | None = None

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started


_call: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar("call_record", default=None)


def open_call(record: CallRecord) -> None:
    """Make `record` the current call's, for the rest of this context (the call's own task)."""
    _call.set(record)


def _current() -> CallRecord | None:
    record = _call.get()
    if record is not None and record.request_id == "-":
        record.request_id = request_id_var.get()  # given by the error interceptor, once the call began
    return record


# -- notes from the layers below ---------------------------------------------------------------


def note_status(code: grpc.StatusCode) -> None:
    """The status the call ends with, as the error interceptor decided it."""
    record = _current()
    if record is not None:
        record.code = code


def note_error(exc: BaseException) -> None:
    """The error a call failed with; a refusal is counted by its reason."""
    record = _current()
    if record is not None:
        record.refusal = refusal_reason(exc)


def note_admitted() -> None:
    """The call got a running slot."""
    record = _current()
    if record is not None and record.metrics is not None:
        record.metrics.admitted(record.elapsed_s())


def note_plan(plan: Plan) -> None:
    record = _current()
    if record is not None:
        record.source_language = plan.source.language
        record.targets = plan.targets


def note_source(language: str) -> None:
    record = _current()
    if record is not None:
        record.source_language = language


def note_cached(cached: bool) -> None:
    """Whether the whole answer came from the result cache."""
    record = _current()
    if record is not None:
        record.cached = cached


def note_event(event: SummaryEvent) -> None:
    """A summary event on its way to the caller: each language counts when it is ready."""
    record = _current()
    if record is None or not isinstance(event, LanguageSummary | LanguageFailure):
        return
    ok = isinstance(event, LanguageSummary)
    first_streamed = record.rpc == "StreamSummarize" and record.languages_ready == 0
    record.languages_ready += 1
    if record.metrics is not None:
        record.metrics.language(event.language, ok, record.elapsed_s(), first_streamed)
    if record.trace is not None:
        record.trace.language_ready(event.language, ok)


def refusal_reason(exc: BaseException) -> str | None:
    """The reason of an error that refused the call, None for other failures.

    Refusals are the server saying no to a request as sent or at this moment (invalid input,
    overload, not ready, credentials); deadlines, cancellations and model failures are not.
    """
    if not isinstance(exc, SummarizerError):
        return None
    if isinstance(exc, ModelError | DeadlineError | RequestCancelledError):
        return None
    return str(exc.reason)
