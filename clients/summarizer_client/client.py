"""`SummarizerClient`: a synchronous client for summarizer.v1.SummarizerService.

It owns one channel, puts a deadline on every call, and turns every `grpc.RpcError` into
a `SummarizerClientError` raised `from` it.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc

from . import _convert
from .errors import SummarizerClientError, error_for, from_rpc_error
from .types import Detection, ModelsInfo, StreamEvent, SummarizeResult, TranslateResult

Mode = Literal["abstractive", "extractive"]
Length = Literal["short", "medium", "long"]
Metadata = Sequence[tuple[str, str | bytes]]

DEFAULT_TARGET = "127.0.0.1:50051"

# How long wait_ready sleeps between two health checks that did not say SERVING.
_POLL_INTERVAL_S = 0.2


class SummarizerClient:
    """A connection to one summarizer server.

    Use it as a context manager so the channel is closed::

        with SummarizerClient("127.0.0.1:50051", timeout=60) as client:
            result = client.summarize(article, ["fr", "de"])

    `timeout` is the deadline, in seconds, of every call that does not pass its own.
    `token`, when set, is sent as `authorization: Bearer <token>`; prefer `credentials`
    (TLS) whenever the server is not on this machine, since a token on a plaintext
    channel can be read on the way.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 120.0,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        metadata: Metadata | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
    ) -> None:
        self.target = target
        self.timeout = _positive_timeout(timeout)
        self._metadata: list[tuple[str, str | bytes]] = list(metadata or ())
        if token:
            self._metadata.append(("authorization", f"Bearer {token}"))
        channel_options = list(options or ())
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=channel_options)
        else:
            self._channel = grpc.secure_channel(target, credentials, options=channel_options)
        self._stub = pb_grpc.SummarizerServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def summarize(
        self,
        text: str,
        targets: str | Iterable[str] = (),
        *,
        source_language: str = "",
        mode: Mode | None = "abstractive",
        length: Length | None = None,
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        num_beams: int | None = None,
        min_confidence: float | None = None,
        html: bool = False,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> SummarizeResult:
        """Summarize `text` into every language of `targets` (empty: the source language).

        A language whose summary is less confident than `min_confidence` (0..1) comes back in
        `failures` (FAILED_PRECONDITION) instead of `summaries`.
        """
        request = pb.SummarizeRequest(
            text=text,
            source_language=source_language,
            target_languages=_convert.language_list(targets),
            options=_convert.summary_options(
                mode=mode,
                length=length,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                num_beams=num_beams,
                min_confidence=min_confidence,
            ),
            request_id=request_id or "",
            input_format=_convert.input_format(html),
        )
        response = self._unary(self._stub.Summarize, request, timeout)
        return _convert.summarize_result(response)

    def stream_summarize(
        self,
        text: str,
        targets: str | Iterable[str] = (),
        *,
        source_language: str = "",
        mode: Mode | None = "abstractive",
        length: Length | None = None,
        max_tokens: int | None = None,
        max_sentences: int | None = None,
        num_beams: int | None = None,
        min_confidence: float | None = None,
        html: bool = False,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Generator[StreamEvent, None, None]:
        """Like `summarize`, but yield each event as the server sends it.

        The first event is a `SourceLanguage`, then one `LanguageSummary` or
        `LanguageFailed` per target. The arguments are checked now; the call starts on the
        first `next()`; `close()` before the end cancels it.
        """
        request = pb.StreamSummarizeRequest(
            text=text,
            source_language=source_language,
            target_languages=_convert.language_list(targets),
            options=_convert.summary_options(
                mode=mode,
                length=length,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                num_beams=num_beams,
                min_confidence=min_confidence,
            ),
            request_id=request_id or "",
            input_format=_convert.input_format(html),
        )
        return self._stream_events(request, self._deadline(timeout))

    def translate(
        self,
        texts: str | Iterable[str],
        targets: str | Iterable[str],
        *,
        source_language: str = "",
        min_confidence: float | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> TranslateResult:
        """Translate each text into each target language.

        Translations less confident than `min_confidence` (0..1) come back in `failures` instead.
        """
        request = pb.TranslateRequest(
            texts=[texts] if isinstance(texts, str) else list(texts),
            source_language=source_language,
            target_languages=_convert.language_list(targets),
            request_id=request_id or "",
            min_confidence=_convert.threshold(min_confidence),
        )
        return _convert.translate_result(self._unary(self._stub.Translate, request, timeout))

    def detect_language(self, text: str, *, timeout: float | None = None) -> Detection:
        """Identify the language of `text`."""
        request = pb.DetectLanguageRequest(text=text)
        return _convert.detection(self._unary(self._stub.DetectLanguage, request, timeout))

    def list_models(self, *, timeout: float | None = None) -> ModelsInfo:
        """Describe the server's active model profile."""
        return _convert.models_info(self._unary(self._stub.ListModels, pb.ListModelsRequest(), timeout))

    def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """One grpc.health.v1 check: the status name, e.g. "SERVING" or "NOT_SERVING"."""
        return self._health_check(service, self._deadline(timeout), wait_for_ready=False)

    def wait_ready(self, timeout: float, *, service: str = "") -> None:
        """Poll the health service until it says SERVING.

        Raises `DeadlineExceededError` when `timeout` seconds pass first, and re-raises at
        once an error that waiting cannot cure (e.g. UNIMPLEMENTED: no health service).
        """
        deadline = time.monotonic() + _positive_timeout(timeout)
        last = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise error_for(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"{self.target} not SERVING after {timeout:g} s (last: {last})",
                )
            try:
                # wait_for_ready: while the server is not listening yet, wait for the
                # connection instead of failing fast with UNAVAILABLE.
                status = self._health_check(service, remaining, wait_for_ready=True)
            except SummarizerClientError as err:
                if err.code not in _TRANSIENT_HEALTH_CODES:
                    raise
                last = err.code.name
            else:
                if status == "SERVING":
                    return
                last = status
            time.sleep(min(_POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))

    # -- plumbing ------------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else _positive_timeout(timeout)

    def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def _health_check(self, service: str, timeout: float, *, wait_for_ready: bool) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            response = self._health.Check(
                request, timeout=timeout, metadata=self._metadata, wait_for_ready=wait_for_ready
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def _stream_events(
        self, request: pb.StreamSummarizeRequest, timeout: float
    ) -> Generator[StreamEvent, None, None]:
        call = self._stub.StreamSummarize(request, timeout=timeout, metadata=self._metadata)
        try:
            for message in call:
                event = _convert.stream_event(message)
                if event is not None:
                    yield event
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        finally:
            # A no-op when the stream ended; stops the server's work when the caller quit early.
            call.cancel()


# Codes that can clear while a server starts: not listening yet, or health not registered yet.
_TRANSIENT_HEALTH_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED}
)


def _positive_timeout(timeout: float) -> float:
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)
