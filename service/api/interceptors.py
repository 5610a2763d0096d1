"""Cross-cutting RPC concerns: request ids and domain exceptions -> gRPC status.

The status each call ends with is noted for its access line, which the observability interceptor
writes (service/api/observability.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from service.api import calls
from service.api.status import STATUS_DETAILS_KEY, rich_status, status_code_for
from service.errors import InvalidInputError, Reason
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
    """

    def __init__(self, services: tuple[str, ...]) -> None:
        self._prefixes = tuple(f"/{name}/" for name in services)

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
                _wrap_stream(name, handler.unary_stream),
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


def _wrap_stream(name: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = _Call(name, request, context)
        try:
            call.begin()
            _check_parsed(name, request)
            async for message in behavior(request, context):
                yield message
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await call.fail(exc)
            raise
        call.finish(grpc.StatusCode.OK)

    return wrapped
