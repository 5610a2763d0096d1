"""Cross-cutting RPC concerns: request ids, domain exceptions -> gRPC status, and streams whose
client stopped reading.

The status each call ends with is noted for its access line, which the observability interceptor
writes (service/api/observability.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from service.api import calls
from service.api.status import STATUS_DETAILS_KEY, rich_status, status_code_for
from service.errors import InvalidInputError, Reason, RequestCancelledError
from service.metrics import Counters
from service.request_context import request_id_var

log = logging.getLogger("service.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")  # fullmatch: "$" would let a final newline through


def _request_id(request: Any, context: grpc.aio.ServicerContext) -> str:
    given = getattr(request, "request_id", "") or ""
    if not given:
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_HEADER and isinstance(value, str):
                given = value
                break
    if not given:
        return uuid.uuid4().hex
    if not _REQUEST_ID.fullmatch(given):
        raise InvalidInputError("request_id", "must be 1..128 printable ASCII characters without spaces")
    return given


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, request_id: str) -> None:
    status = rich_status(exc, request_id)
    await context.abort(
        status_code_for(exc),
        status.message,
        trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()), (REQUEST_ID_HEADER, request_id)),
    )


class _Malformed:
    """Stands in for a request whose bytes do not parse, so that the call answers INVALID_ARGUMENT.

    Left to gRPC, a parse failure becomes UNKNOWN with a logged traceback and no request id.
    """


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:  # corrupt wire format, or a string field that is not UTF-8
            return _Malformed()

    return parse


def _check_parsed(name: str, request: Any) -> None:
    if isinstance(request, _Malformed):
        raise InvalidInputError(
            "request",
            f"is not a valid {name}Request message (corrupt protobuf, or a string that is not UTF-8)",
            reason=Reason.MALFORMED_REQUEST,
        )


class _Call:
    """Book-keeping shared by the unary and streaming wrappers."""

    def __init__(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.request_id = "-"
        self.request = request

    def begin(self) -> None:
        self.request_id = _request_id(self.request, self.context)
        request_id_var.set(self.request_id)
        self.context.set_trailing_metadata(((REQUEST_ID_HEADER, self.request_id),))

    async def fail(self, exc: BaseException) -> None:
        code = status_code_for(exc)
        if code is grpc.StatusCode.INTERNAL:
            log.error("%s failed with an unexpected error", self.method, exc_info=exc)
        calls.note_error(exc)
        self.finish(code)
        await _abort(self.context, exc, self.request_id)

    def finish(self, code: grpc.StatusCode) -> None:
        calls.note_status(code)


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Gives every call a request id and turns domain exceptions into statuses via one table.

    Only the services named in `services` are wrapped; health and reflection pass straight through.
    A streaming call whose client takes no message for `stream_send_timeout_s` is let go of.
    """

    def __init__(
        self,
        services: tuple[str, ...],
        *,
        stream_send_timeout_s: float = 30.0,
        metrics: Counters | None = None,
    ) -> None:
        self._prefixes = tuple(f"/{name}/" for name in services)
        self._stream_send_timeout_s = stream_send_timeout_s
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefixes):
            return handler
        name = method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(name, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(name, handler.unary_stream, self._stream_send_timeout_s, self._metrics),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler


def _wrap_unary(name: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = _Call(name, request, context)
        try:
            call.begin()
            _check_parsed(name, request)
            response = await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await call.fail(exc)
            raise  # unreachable: abort raises
        call.finish(grpc.StatusCode.OK)
        return response

    return wrapped


def _wrap_stream(
    name: str,
    behavior: Callable[..., AsyncGenerator[Any, None]],
    send_timeout_s: float,
    metrics: Counters | None,
) -> Callable[..., Awaitable[None]]:
    """The streaming handler, writing each message itself so that a write can be timed.

    A client that stops reading (its HTTP/2 window at zero) leaves a write pending for ever, and the
    call holding its running slot with it. After `send_timeout_s` the call lets go: the handler's
    generator is closed (the admission slot is released and the model work stopped) and the event
    is logged and counted. gRPC cannot take back a message it has started to send, so the call
    itself ends when that write does (the client reads again: it gets CANCELLED), the client
    leaves, or the server stops.
    """

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> None:
        call = _Call(name, request, context)
        messages = behavior(request, context)
        write: asyncio.Future[None] | None = None
        try:
            call.begin()
            _check_parsed(name, request)
            async for message in messages:
                write = asyncio.ensure_future(context.write(message))
                done, _ = await asyncio.wait((write,), timeout=send_timeout_s)
                if not done:
                    await _let_go_of_stalled_stream(call, messages, write, send_timeout_s, metrics)
                    return
                write.result()
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await call.fail(exc)
            raise
        finally:
            if write is not None and not write.done():
                write.cancel()  # the call ended under it (client gone, server stopping)
            await messages.aclose()
        call.finish(grpc.StatusCode.OK)

    return wrapped


async def _let_go_of_stalled_stream(
    call: _Call,
    messages: AsyncGenerator[Any, None],
    write: asyncio.Future[None],
    waited_s: float,
    metrics: Counters | None,
) -> None:
    await messages.aclose()  # releases the running slot and stops the model work now
    if metrics is not None:
        metrics.add("streams_send_timed_out")
    log.warning(
        "%s: the client took no message for %.1f s; stream cancelled, its slot freed",
        call.method,
        waited_s,
    )
    call.finish(grpc.StatusCode.CANCELLED)
    try:
        await write  # until the client reads again; a client that leaves cancels this call instead
    except Exception:  # the call ended under the write (the server stopping): nothing more to send
        return
    await _abort(
        call.context,
        RequestCancelledError(
            f"the server cancelled the stream: the client took no message for {waited_s:.1f} s"
        ),
        call.request_id,
    )
