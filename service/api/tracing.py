"""OpenTelemetry traces of the summarizer's calls, exported over OTLP/gRPC.

Imported only when tracing is on (`--otlp-endpoint` or OTEL_EXPORTER_OTLP_ENDPOINT): with it off,
no OpenTelemetry module is loaded at all. Each server has a tracer provider of its own (the
process-wide one is left alone), so that several servers can run in one process.

The spans of one call, the first continuing the caller's W3C `traceparent` metadata when it has one:

    summarizer.v1.SummarizerService/StreamSummarize    SERVER
    ├── detect                                         the language detector, unless cached
    ├── translate                                      into English first, when the summarizer cannot
    │                                                  read the source (summarizer.pivot = true)
    ├── summarize                                      summarizer.model, summarizer.runtime, tokens
    │   └── language en                                the summary's own language, when it is a target
    └── translate                                      one per batch of targets into other languages
        ├── language fr                                one per target language (cache hits included)
        └── language de

Attributes name models, runtimes, languages, token counts and cache use, never text; a failed
stage records its exception's type, not its message. The call span also gets an event per
target language as it becomes ready.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service import __version__
from service.models.base import ModelDescription
from service.telemetry import Attribute, Stage

SERVICE = "summarizer.v1.SummarizerService"
DEFAULT_SERVICE_NAME = "summarizer"
# Server spans are errors on these codes only (OpenTelemetry's gRPC conventions): the others are
# the caller's doing.
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class Tracing:
    """A tracer provider exporting to one OTLP endpoint, and the start of each call's trace."""

    def __init__(self, endpoint: str, *, exporter: SpanExporter | None = None) -> None:
        resource = Resource.create({SERVICE_VERSION: __version__})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            # Neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names the service.
            resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
        self.endpoint = endpoint
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter if exporter is not None else OTLPSpanExporter(endpoint=endpoint))
        )
        self.tracer = self.provider.get_tracer("service", __version__)
        self._propagator = TraceContextTextMapPropagator()
        self.profile = ""
        self.runtimes: dict[str, str] = {}

    def describe_models(self, profile: str, models: Iterable[ModelDescription]) -> None:
        self.profile = profile
        self.runtimes = {model.name: model.runtime for model in models}

    def start(self, rpc: str, metadata: Sequence[tuple[str, Any]] | None) -> CallTrace:
        """The span of one call, a child of the caller's `traceparent` when the metadata has one."""
        carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
        parent = self._propagator.extract(carrier)
        span = self.tracer.start_span(
            f"{SERVICE}/{rpc}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": SERVICE,
                "rpc.method": rpc,
                "summarizer.profile": self.profile,
            },
        )
        return CallTrace(self, span)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        return bool(self.provider.force_flush(int(timeout_s * 1000)))

    def shutdown(self) -> None:
        """Export what is left and stop."""
        self.provider.shutdown()


class CallTrace:
    """The spans of one call: a telemetry observer (service/telemetry.py) over the call's span.

    Stages run on worker threads in a copy of the call's context; a stage span becomes current
    there, so that a stage or a language inside it is its child. Anything not inside a stage is a
    child of the call's span.
    """

    def __init__(self, tracing: Tracing, span: trace.Span) -> None:
        self._tracing = tracing
        self.span = span
        self._context = trace.set_span_in_context(span)
        self._trace_id = span.get_span_context().trace_id
        self._lock = threading.Lock()
        self._tokens: dict[int, list[int]] = {}  # span id -> [input, output]
        self._cache = [0, 0]  # hits, misses

    @property
    def trace_id(self) -> str:
        return format(self._trace_id, "032x")

    # -- the telemetry observer ----------------------------------------------------------------

    @contextmanager
    def stage(self, name: str, **attributes: Attribute) -> Iterator[Stage]:
        with self._tracing.tracer.start_as_current_span(
            name,
            context=self._parent(),
            attributes=self._attributes(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield _SpanStage(self, (span,))
            except BaseException as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    @contextmanager
    def languages(self, tags: Sequence[str], **attributes: Attribute) -> Iterator[Stage]:
        if not tags:
            yield _SpanStage(self, ())
            return
        parent = self._parent()
        tracer = self._tracing.tracer
        common = self._attributes(attributes)
        if len(tags) == 1:  # current, so that the tokens of its model calls land on it
            with tracer.start_as_current_span(
                f"language {tags[0]}",
                context=parent,
                attributes={**common, "summarizer.language": tags[0]},
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                yield _SpanStage(self, (span,))
            return
        spans = tuple(
            tracer.start_span(
                f"language {tag}", context=parent, attributes={**common, "summarizer.language": tag}
            )
            for tag in tags
        )
        try:
            yield _SpanStage(self, spans)
        finally:
            for span in spans:
                span.end()

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        pass  # a batch serves many calls; each call's share comes through `tokens`

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        current = trace.get_current_span()
        for span in (current, self.span) if self._owns(current) else (self.span,):
            key = span.get_span_context().span_id
            with self._lock:
                totals = self._tokens.setdefault(key, [0, 0])
                totals[0] += input_tokens
                totals[1] += output_tokens
                counted = tuple(totals)
            span.set_attribute("summarizer.input_tokens", counted[0])
            span.set_attribute("summarizer.output_tokens", counted[1])

    def cache(self, kind: str, hit: bool) -> None:
        with self._lock:
            self._cache[0 if hit else 1] += 1

    # -- the call ------------------------------------------------------------------------------

    def language_ready(self, language: str, ok: bool) -> None:
        self.span.add_event(
            "language ready",
            {"summarizer.language": language, "summarizer.outcome": "summary" if ok else "failure"},
        )

    def end(self, code: grpc.StatusCode, attributes: Mapping[str, Attribute | None]) -> None:
        span = self.span
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        span.set_attribute("summarizer.cache_hits", self._cache[0])
        span.set_attribute("summarizer.cache_misses", self._cache[1])
        for key, value in attributes.items():
            if value is not None:
                span.set_attribute(f"summarizer.{key}", value)
        if code in _SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()

    # -- helpers -------------------------------------------------------------------------------

    def _owns(self, span: trace.Span) -> bool:
        return span.is_recording() and span.get_span_context().trace_id == self._trace_id

    def _parent(self) -> Context:
        """The current stage of this call when there is one, else the call's span."""
        if self._owns(trace.get_current_span()):
            return trace.set_span_in_context(trace.get_current_span())
        return self._context

    def _attributes(self, attributes: Mapping[str, Attribute]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            out[f"summarizer.{key}"] = list(value) if isinstance(value, tuple | list) else value
        runtimes = self._tracing.runtimes
        if isinstance(attributes.get("model"), str):
            out["summarizer.runtime"] = runtimes.get(str(attributes["model"]), "")
        models = attributes.get("models")
        if isinstance(models, tuple | list):
            out["summarizer.runtimes"] = sorted({runtimes.get(m, "") for m in models})
        return out


class _SpanStage:
    def __init__(self, trace_: CallTrace, spans: tuple[trace.Span, ...]) -> None:
        self._trace = trace_
        self._spans = spans

    def annotate(self, **attributes: Attribute) -> None:
        values = self._trace._attributes(attributes)
        for span in self._spans:
            span.set_attributes(values)
