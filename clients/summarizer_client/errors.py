"""The one exception type the client raises for a failed call, and a few subclasses.

    SummarizerClientError         any status other than OK; .code, .details, .request_id
    ├── InvalidArgumentError      INVALID_ARGUMENT     fix the request; retrying will not help
    ├── ResourceExhaustedError    RESOURCE_EXHAUSTED   the server is at capacity; retry later
    ├── UnavailableError          UNAVAILABLE          not reachable, warming up or shutting down
    └── DeadlineExceededError     DEADLINE_EXCEEDED    the call's deadline passed

Every error raised from a `grpc.RpcError` keeps it as `__cause__`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc

#: Trailing-metadata key under which the server reports the request id of a failed call.
REQUEST_ID_KEY = "x-request-id"


class SummarizerClientError(Exception):
    """A call ended with a status other than OK."""

    def __init__(self, code: grpc.StatusCode, details: str, *, request_id: str | None = None) -> None:
        message = f"{code.name}: {details}"
        if request_id and request_id not in details:
            message += f" (request id {request_id})"
        super().__init__(message)
        self.code = code
        self.details = details
        self.request_id = request_id


class InvalidArgumentError(SummarizerClientError):
    """The server rejected the request; `details` names the field and the reason."""


class ResourceExhaustedError(SummarizerClientError):
    """The server is at capacity."""


class UnavailableError(SummarizerClientError):
    """The server cannot be reached, or is starting, warming up or shutting down."""


class DeadlineExceededError(SummarizerClientError):
    """The call's deadline passed before the server finished."""


_BY_CODE: dict[grpc.StatusCode, type[SummarizerClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def error_for(code: grpc.StatusCode, details: str, *, request_id: str | None = None) -> SummarizerClientError:
    """The most specific error class for `code`."""
    return _BY_CODE.get(code, SummarizerClientError)(code, details, request_id=request_id)


def from_rpc_error(err: grpc.RpcError) -> SummarizerClientError:
    """Translate a grpc error; the caller raises the result `from err`."""
    # Errors raised by a stub are also grpc.Call objects; stay defensive for any that are not.
    code = _call(err, "code") or grpc.StatusCode.UNKNOWN
    details = _call(err, "details") or ""
    request_id = _metadata_value(_call(err, "trailing_metadata"), REQUEST_ID_KEY)
    return error_for(code, details, request_id=request_id)


def _call(err: grpc.RpcError, name: str) -> Any:
    method = getattr(err, name, None)
    return method() if callable(method) else None


def _metadata_value(metadata: Iterable[tuple[str, Any]] | None, key: str) -> str | None:
    for item_key, value in metadata or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None
