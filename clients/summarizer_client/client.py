"""`SummarizerClient`: a blocking client for summarizer.v1.SummarizerService.

It owns one channel, puts a deadline on every call, and turns every `grpc.RpcError` into
a `SummarizerClientError` raised `from` it. How the channel retries and balances is in `_channel`.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc

from . import _convert
from ._calls import (
    POLL_INTERVAL_S,
    TRANSIENT_HEALTH_CODES,
    Length,
    Metadata,
    Mode,
    PemSource,
    positive_timeout,
    time_left,
)
from ._channel import DEFAULT_TARGET, MAX_RETRY_ATTEMPTS, ChannelSettings, dial
from ._overload import OverloadPolicy
from .errors import SummarizerClientError, error_for, from_rpc_error
from .types import Detection, ModelsInfo, StreamEvent, SummarizeResult, TranslateResult

__all__ = ["DEFAULT_TARGET", "Length", "Metadata", "Mode", "SummarizerClient"]


class SummarizerClient:
    """A connection to the summarizer service: one server, or several replicas behind one target.

    Use it as a context manager so the channel is closed::

        with SummarizerClient("dns:///summarizer.internal:50051", timeout=60) as client:
            result = client.summarize(article, ["fr", "de"])

    `target` is any gRPC target: "host:port", "dns:///host:port" (every address the name
    resolves to), "ipv4:10.0.0.1:50051,10.0.0.2:50051", or a bare comma list of IP addresses.
    Calls are spread over the addresses with `load_balancing` ("round_robin" by default).

    `timeout` is the deadline, in seconds, of every call that does not pass its own; retries
    and waits happen within it.

    Retries: a call that ends UNAVAILABLE (a replica draining or restarting) is retried by gRPC
    up to `max_attempts` times in all, with exponential backoff; 1 turns that off. A streaming
    call is retried only until its first response arrives; an UNAVAILABLE after that ends the
    stream with `UnavailableError`. RESOURCE_EXHAUSTED (overloaded) is retried only with
    `retry_overloaded=True`: the client then waits the delay the server asks for (RetryInfo),
    `overloaded_attempts` times in all at most. `wait_for_ready=True` makes calls wait for a
    connection, within their deadline, instead of failing at once while no server is up.

    Security: `tls=True` dials TLS trusting the system's roots; `ca_cert` (a PEM file or bytes)
    trusts that CA instead, and `client_cert` with `client_key` presents a client certificate
    (mutual TLS). `server_name` checks the server's certificate against that name instead of
    the target's host. `credentials` takes ready-made channel credentials. `token`, when set,
    is sent as `authorization: Bearer <token>`; use TLS whenever the server is not on this
    machine, since a token on a plaintext channel can be read on the way.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = 120.0,
        credentials: grpc.ChannelCredentials | None = None,
        tls: bool = False,
        ca_cert: PemSource | None = None,
        client_cert: PemSource | None = None,
        client_key: PemSource | None = None,
        server_name: str | None = None,
        token: str | None = None,
        metadata: Metadata | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
        max_attempts: int = MAX_RETRY_ATTEMPTS,
        load_balancing: str = "round_robin",
        wait_for_ready: bool = False,
        retry_overloaded: bool = False,
        overloaded_attempts: int = 3,
    ) -> None:
        self.timeout = positive_timeout(timeout)
        self._overload = OverloadPolicy(retry_overloaded, overloaded_attempts)
        plan = dial(
            target,
            settings=ChannelSettings(max_attempts, load_balancing, wait_for_ready),
            credentials=credentials,
            tls=tls,
            ca_cert=ca_cert,
            client_cert=client_cert,
            client_key=client_key,
            server_name=server_name,
            token=token,
            metadata=metadata,
            options=options,
        )
        self.target = plan.target
        self._metadata = plan.metadata
        if plan.credentials is None:
            self._channel = grpc.insecure_channel(plan.target, options=plan.options)
        else:
            self._channel = grpc.secure_channel(plan.target, plan.credentials, options=plan.options)
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
            **_convert.summarize_fields(
                text,
                targets,
                source_language=source_language,
                mode=mode,
                length=length,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                num_beams=num_beams,
                html=html,
                request_id=request_id,
                min_confidence=min_confidence,
            )
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

        gRPC retries an UNAVAILABLE stream only before its first response; with
        `retry_overloaded`, an overloaded refusal (which comes before any event) is retried too.
        """
        request = pb.StreamSummarizeRequest(
            **_convert.summarize_fields(
                text,
                targets,
                source_language=source_language,
                mode=mode,
                length=length,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                num_beams=num_beams,
                html=html,
                request_id=request_id,
                min_confidence=min_confidence,
            )
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
        request = _convert.translate_request(
            texts,
            targets,
            source_language=source_language,
            request_id=request_id,
            min_confidence=min_confidence,
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
        deadline = time.monotonic() + positive_timeout(timeout)
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
                if err.code not in TRANSIENT_HEALTH_CODES:
                    raise
                last = err.code.name
            else:
                if status == "SERVING":
                    return
                last = status
            time.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))

    # -- plumbing ------------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else positive_timeout(timeout)

    def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        deadline = time.monotonic() + self._deadline(timeout)
        attempt = 1
        while True:
            try:
                return method(request, timeout=time_left(deadline), metadata=self._metadata)
            except grpc.RpcError as err:
                error = from_rpc_error(err)
                delay = self._overload.delay(error, attempt, deadline - time.monotonic())
                if delay is None:
                    raise error from err
            time.sleep(delay)
            attempt += 1

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
        deadline = time.monotonic() + timeout
        attempt = 1
        while True:
            call = self._stub.StreamSummarize(request, timeout=time_left(deadline), metadata=self._metadata)
            started = False
            try:
                for message in call:
                    started = True
                    event = _convert.stream_event(message)
                    if event is not None:
                        yield event
                return
            except grpc.RpcError as err:
                error = from_rpc_error(err)
                # Only a refusal before the first event may be retried: the caller has seen nothing yet.
                delay = None if started else self._overload.delay(error, attempt, deadline - time.monotonic())
                if delay is None:
                    raise error from err
            finally:
                # A no-op when the stream ended; stops the server's work when the caller quit early.
                call.cancel()
            time.sleep(delay)
            attempt += 1
