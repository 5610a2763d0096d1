"""What each call leaves behind: one access line, its metrics and its trace.

`ObservabilityInterceptor` is the outermost interceptor, so that it sees every call to the
summarizer service, including those refused for their credentials and those the caller cancelled
(gRPC then cancels the handler: no status is sent, and before this nothing was logged). For each
call it keeps a `CallRecord` in a context variable; the layers below note into it what only they
know (the error interceptor the status and the refusal reason, the servicer the admission, the
plan, the cache and each language as it is ready), and when the call ends, however it ends, the
record becomes:

- one access line on the `service.access` logger, INFO, with the fields of `ACCESS_FIELDS`
  (in JSON mode, one key each); article text only at DEBUG with `--log-text`;
- `summarizer_requests_total` and the other per-call metrics, when metrics are on;
- the call's span, when tracing is on; else the access line still carries the caller's trace id.

The pipeline's own reports (stages, caches, batches) reach the call's telemetry observer, which
this interceptor installs for the call (service/telemetry.py). Health and reflection calls are
not recorded: load balancers probe them every few seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from service import telemetry
from service.api.admission import Admission
from service.api.calls import CallMetrics, CallRecord, CallTracing, open_call
from service.config import Settings
from service.logging_setup import ACCESS_ATTRIBUTE
from service.metrics import Counters
from service.pipeline import ProfileInfo
from service.request_context import request_id_var

if TYPE_CHECKING:  # imported at run time only when switched on
    from service.api.prometheus import ServerMetrics
    from service.api.tracing import Tracing

log = logging.getLogger("service.access")
_setup_log = logging.getLogger(__name__)

#: The fields of every access line, in order, and what each holds.
ACCESS_FIELDS = {
    "request_id": "The call's request id (the request's `request_id`, else `x-request-id` metadata, else "
    "generated); `-` for a call refused before it got one (a bad token).",
    "rpc": "The method: Summarize, StreamSummarize, Translate, DetectLanguage or ListModels.",
    "code": "The gRPC status the call ended with: OK, INVALID_ARGUMENT, ..., CANCELLED when the caller "
    "went away, DEADLINE_EXCEEDED when its deadline passed.",
    "duration_ms": "Milliseconds from the call's arrival to its end.",
    "source_language": "The source language: detected or declared once planned, else as declared; null "
    "when unknown.",
    "targets": "The target languages, normalized once planned (at most 16 logged).",
    "text_chars": "Characters of article text in the request (all texts, for Translate). Never the text.",
    "cached": "True when the whole answer came from the result cache, false when a model ran, null when "
    "the call did not get that far (or does not use the cache).",
    "peer": "The caller's address as gRPC gives it, e.g. `ipv4:10.0.0.7:51234`.",
    "trace_id": "The call's trace id (32 hex digits): its span's with tracing on, else the caller's "
    "`traceparent`'s; null without either.",
}
# The targets a caller sent are logged before they are validated: bounded in number and length.
_MAX_LOGGED_TARGETS = 16
_MAX_TAG_CHARS = 35
# W3C trace context: version-traceid-parentid-flags, lower-case hex; an all-zero id is invalid.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


# -- the interceptor ---------------------------------------------------------------------------


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Records every call to `services`: access line, metrics and trace (each optional but the line)."""

    def __init__(
        self,
        services: tuple[str, ...],
        *,
        metrics: CallMetrics | None = None,
        tracing: CallTracing | None = None,
        log_text: bool = False,
    ) -> None:
        self._prefixes = tuple(f"/{name}/" for name in services)
        self.metrics = metrics
        self.tracing = tracing
        self.log_text = log_text

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefixes):
            return handler
        rpc = method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(rpc, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(rpc, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, rpc: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def recorded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            record = self._begin(rpc, request, context)
            try:
                response = await behavior(request, context)
            except BaseException as exc:
                self._end(record, request, context, exc)
                raise
            self._end(record, request, context, None)
            return response

        return recorded

    def _stream(self, rpc: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isasyncgenfunction(behavior):  # a handler that writes its messages itself

            async def recorded_writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                record = self._begin(rpc, request, context)
                try:
                    await behavior(request, context)
                except BaseException as exc:
                    self._end(record, request, context, exc)
                    raise
                self._end(record, request, context, None)

            return recorded_writer

        async def recorded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            record = self._begin(rpc, request, context)
            messages = behavior(request, context)
            error: BaseException | None = None
            try:
                async for message in messages:
                    yield message
            except BaseException as exc:  # GeneratorExit or CancelledError: the caller went away
                error = exc
                raise
            finally:
                try:
                    await messages.aclose()  # at once, not when collected: it holds a running slot
                finally:
                    self._end(record, request, context, error)

        return recorded

    def _begin(self, rpc: str, request: Any, context: grpc.aio.ServicerContext) -> CallRecord:
        texts = _texts(request)
        targets = tuple(
            str(tag)[:_MAX_TAG_CHARS]
            for tag in getattr(request, "target_languages", ())[:_MAX_LOGGED_TARGETS]
        )
        declared = str(getattr(request, "source_language", ""))[:_MAX_TAG_CHARS]
        record = CallRecord(
            rpc=rpc,
            peer=context.peer() or "",
            request_id=request_id_var.get(),
            text_chars=sum(len(text) for text in texts),
            targets=targets,
            source_language=declared or None,
            metrics=self.metrics,
        )
        metadata = context.invocation_metadata()
        if self.tracing is not None:
            record.trace = self.tracing.start(rpc, metadata)
            record.trace_id = record.trace.trace_id
        else:
            record.trace_id = caller_trace_id(metadata)
        # Set in the call's own task: the call's handler, and the work it hands to the runner's
        # threads, see them; the task ends with the call.
        open_call(record)
        observer = telemetry.combine(
            [self.metrics.observer if self.metrics is not None else None, record.trace]
        )
        telemetry.install(observer)
        return record

    def _end(
        self,
        record: CallRecord,
        request: Any,
        context: grpc.aio.ServicerContext,
        error: BaseException | None,
    ) -> None:
        duration_s = record.elapsed_s()
        code = _final_code(record, context, error)
        refusal = record.refusal
        if refusal is None and code is grpc.StatusCode.UNAUTHENTICATED:
            refusal = "UNAUTHENTICATED"  # refused before the error interceptor saw the call
        fields: dict[str, Any] = {
            "request_id": record.request_id if record.request_id != "-" else request_id_var.get(),
            "rpc": record.rpc,
            "code": code.name,
            "duration_ms": round(duration_s * 1000, 1),
            "source_language": record.source_language,
            "targets": list(record.targets),
            "text_chars": record.text_chars,
            "cached": record.cached,
            "peer": record.peer,
            "trace_id": record.trace_id,
        }
        try:
            if self.metrics is not None:
                self.metrics.call_finished(record.rpc, code.name, duration_s, refusal)
            if record.trace is not None:
                record.trace.end(
                    code,
                    {
                        k: fields[k]
                        for k in ("request_id", "source_language", "targets", "text_chars", "cached")
                    },
                )
        finally:
            if self.log_text and log.isEnabledFor(logging.DEBUG):
                log.debug("%s text: %r", record.rpc, _texts(request))
            log.info(
                "%s %s in %.1f ms",
                record.rpc,
                code.name,
                fields["duration_ms"],
                extra={ACCESS_ATTRIBUTE: fields},
            )


# A call cancelled this close to its deadline ended at it: the caller's clock runs out a moment before the
# server's, and its cancel can arrive first.
_DEADLINE_SLACK_S = 0.05


def _final_code(
    record: CallRecord, context: grpc.aio.ServicerContext, error: BaseException | None
) -> grpc.StatusCode:
    if record.code is not None:
        return record.code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= _DEADLINE_SLACK_S:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED
    code = context.code()  # set by an abort below this interceptor (a refused token)
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN


def _texts(request: Any) -> list[str]:
    """The text a request carries: `text` (Summarize, StreamSummarize, DetectLanguage) or `texts`."""
    text = getattr(request, "text", None)
    if isinstance(text, str):
        return [text]
    return [t for t in getattr(request, "texts", ()) if isinstance(t, str)]


def caller_trace_id(metadata: Sequence[tuple[str, Any]] | None) -> str | None:
    """The trace id of the caller's W3C `traceparent`, for the access line when tracing is off."""
    for key, value in metadata or ():
        if key == "traceparent" and isinstance(value, str):
            match = _TRACEPARENT.fullmatch(value.strip())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
            return None
    return None


class Observability:
    """The server's metrics endpoint, tracer and call interceptor, as the settings ask.

    prometheus_client is imported only when metrics are on, and OpenTelemetry only when tracing is.
    """

    def __init__(
        self,
        services: tuple[str, ...],
        *,
        counters: Counters,
        admission: Admission,
        device: str = "cpu",
        metrics_address: tuple[str, int] | None = None,
        otlp_endpoint: str = "",
        log_text: bool = False,
    ) -> None:
        self.device = device
        self.metrics: ServerMetrics | None = None
        self.metrics_address = metrics_address
        self.metrics_port: int | None = None
        self.tracing: Tracing | None = None
        if metrics_address is not None:
            from service.api.prometheus import ServerMetrics

            self.metrics = ServerMetrics(counters, admission)
        if otlp_endpoint:
            from service.api.tracing import Tracing

            self.tracing = Tracing(otlp_endpoint)
            _setup_log.info("traces to %s over OTLP/gRPC", otlp_endpoint)
        self.interceptor = ObservabilityInterceptor(
            services, metrics=self.metrics, tracing=self.tracing, log_text=log_text
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, services: tuple[str, ...], counters: Counters, admission: Admission
    ) -> Observability:
        return cls(
            services,
            counters=counters,
            admission=admission,
            device=settings.device,
            metrics_address=(settings.metrics_address, settings.metrics_port)
            if settings.metrics_port
            else None,
            otlp_endpoint=settings.otlp_endpoint,
            log_text=settings.log_text,
        )

    def start(self) -> None:
        """Serve /metrics (when on). Raises OSError, naming the address, when it cannot listen."""
        if self.metrics is None or self.metrics_address is None:
            return
        host, port = self.metrics_address
        try:
            self.metrics_port = self.metrics.serve(host, port)
        except OSError as exc:
            raise OSError(
                f"cannot serve metrics on {_host_port(host, port)}: {exc.strerror or exc}"
            ) from None
        _setup_log.info("metrics on http://%s/metrics", _host_port(host, self.metrics_port))

    def describe(self, info: ProfileInfo) -> None:
        """The loaded models: `summarizer_model_info`, and the runtimes named on spans."""
        if self.metrics is not None:
            self.metrics.describe_models(info.profile, info.models, self.device)
        if self.tracing is not None:
            self.tracing.describe_models(info.profile, info.models)

    def close(self) -> None:
        """Stop serving /metrics and export the spans still buffered."""
        if self.metrics is not None:
            self.metrics.close()
        if self.tracing is not None:
            self.tracing.shutdown()


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
