"""`AsyncSummarizerClient`: the same typed surface as `SummarizerClient`, on `grpc.aio`.

    async with AsyncSummarizerClient("127.0.0.1:50051") as client:
        result = await client.summarize(article, ["fr", "de"])
        async for event in client.stream_summarize(article, ["fr", "de"]):
            ...

Create it inside a running event loop: its channel belongs to that loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
import grpc.aio
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


class AsyncSummarizerClient:
    """An asyncio connection to the summarizer service; see `SummarizerClient` for every argument.

    Retries, load balancing, TLS and tokens work as in `SummarizerClient`: gRPC retries
    UNAVAILABLE (a stream only before its first response), and `retry_overloaded=True` waits
    out RESOURCE_EXHAUSTED for the delay the server asks for.
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
            self._channel = grpc.aio.insecure_channel(plan.target, options=plan.options)
        else:
            self._channel = grpc.aio.secure_channel(plan.target, plan.credentials, options=plan.options)
        self._stub = pb_grpc.SummarizerServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        await self._channel.close()

    async def summarize(
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
        return _convert.summarize_result(await self._unary(self._stub.Summarize, request, timeout))

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
    ) -> AsyncGenerator[StreamEvent, None]:
        """Like `summarize`, but yield each event as the server sends it (`async for`).

        The arguments are checked now; the call starts on the first iteration; `aclose()`
        before the end cancels it. Retried as in `SummarizerClient.stream_summarize`.
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

    async def translate(
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
        return _convert.translate_result(await self._unary(self._stub.Translate, request, timeout))

    async def detect_language(self, text: str, *, timeout: float | None = None) -> Detection:
        """Identify the language of `text`."""
        request = pb.DetectLanguageRequest(text=text)
        return _convert.detection(await self._unary(self._stub.DetectLanguage, request, timeout))

    async def list_models(self, *, timeout: float | None = None) -> ModelsInfo:
        """Describe the server's active model profile."""
        response = await self._unary(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return _convert.models_info(response)

    async def check_health(self, service: str = "", *, timeout: float | None = None) -> str:
        """One grpc.health.v1 check: the status name, e.g. "SERVING" or "NOT_SERVING"."""
        return await self._health_check(service, self._deadline(timeout), wait_for_ready=False)

    async def wait_ready(self, timeout: float, *, service: str = "") -> None:
        """Poll the health service until it says SERVING; see `SummarizerClient.wait_ready`."""
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
                status = await self._health_check(service, remaining, wait_for_ready=True)
            except SummarizerClientError as err:
                if err.code not in TRANSIENT_HEALTH_CODES:
                    raise
                last = err.code.name
            else:
                if status == "SERVING":
                    return
                last = status
            await asyncio.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))

    # -- plumbing ------------------------------------------------------------------------

    def _deadline(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else positive_timeout(timeout)

    async def _unary(self, method: Any, request: Any, timeout: float | None) -> Any:
        deadline = time.monotonic() + self._deadline(timeout)
        attempt = 1
        while True:
            try:
                return await method(request, timeout=time_left(deadline), metadata=self._metadata)
            except grpc.RpcError as err:
                error = from_rpc_error(err)
                delay = self._overload.delay(error, attempt, deadline - time.monotonic())
                if delay is None:
                    raise error from err
            await asyncio.sleep(delay)
            attempt += 1

    async def _health_check(self, service: str, timeout: float, *, wait_for_ready: bool) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            response = await self._health.Check(
                request, timeout=timeout, metadata=self._metadata, wait_for_ready=wait_for_ready
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def _stream_events(
        self, request: pb.StreamSummarizeRequest, timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        deadline = time.monotonic() + timeout
        attempt = 1
        while True:
            call = self._stub.StreamSummarize(request, timeout=time_left(deadline), metadata=self._metadata)
            started = False
            try:
                async for message in call:
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
            await asyncio.sleep(delay)
            attempt += 1
