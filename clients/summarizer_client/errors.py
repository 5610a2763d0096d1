"""The one exception type the client raises for a failed call, and a few subclasses.

    SummarizerClientError         any status other than OK
    ├── InvalidArgumentError      INVALID_ARGUMENT     fix the request; retrying will not help
    ├── ResourceExhaustedError    RESOURCE_EXHAUSTED   the server is at capacity; retry later
    ├── UnavailableError          UNAVAILABLE          not reachable, warming up or shutting down
    └── DeadlineExceededError     DEADLINE_EXCEEDED    the call's deadline passed

Each error carries what the server sent besides the status code and message, read from the
`google.rpc.Status` details in the trailing metadata:

    .reason            ErrorInfo.reason, e.g. "EMPTY_TEXT" or "OVERLOADED"; None when not sent
    .field_violations  BadRequest: which request fields were wrong, and why
    .retry_after       RetryInfo: seconds the server asks the caller to wait; None when not sent
    .request_id        ErrorInfo metadata "request_id", else the `x-request-id` trailing metadata

Every error raised from a `grpc.RpcError` keeps it as `__cause__`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

#: Trailing-metadata key under which the server reports the request id of a failed call.
REQUEST_ID_KEY = "x-request-id"
#: The ErrorInfo metadata key that holds the request id.
ERROR_INFO_REQUEST_ID = "request_id"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One wrong field of a request: its path (e.g. "target_languages[1]") and what is wrong."""

    field: str
    description: str


class SummarizerClientError(Exception):
    """A call ended with a status other than OK."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        request_id: str | None = None,
        reason: str | None = None,
        domain: str | None = None,
        field_violations: Sequence[FieldViolation] = (),
        retry_after: float | None = None,
    ) -> None:
        message = f"{code.name}: {details}"
        if request_id and request_id not in details:
            message += f" (request id {request_id})"
        super().__init__(message)
        self.code = code
        self.details = details
        self.request_id = request_id
        self.reason = reason
        self.domain = domain
        self.field_violations = list(field_violations)
        self.retry_after = retry_after


class InvalidArgumentError(SummarizerClientError):
    """The server rejected the request; `details` and `field_violations` say which field and why."""


class ResourceExhaustedError(SummarizerClientError):
    """The server is at capacity; `retry_after` says how long it asks the caller to wait."""


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


def error_for(
    code: grpc.StatusCode,
    details: str,
    *,
    request_id: str | None = None,
    reason: str | None = None,
    domain: str | None = None,
    field_violations: Sequence[FieldViolation] = (),
    retry_after: float | None = None,
) -> SummarizerClientError:
    """The most specific error class for `code`."""
    return _BY_CODE.get(code, SummarizerClientError)(
        code,
        details,
        request_id=request_id,
        reason=reason,
        domain=domain,
        field_violations=field_violations,
        retry_after=retry_after,
    )


def from_rpc_error(err: grpc.RpcError) -> SummarizerClientError:
    """Translate a grpc error (blocking or asyncio); the caller raises the result `from err`."""
    # Errors raised by a stub are also grpc.Call objects; stay defensive for any that are not.
    code = _call(err, "code") or grpc.StatusCode.UNKNOWN
    details = _call(err, "details") or ""
    trailing = _call(err, "trailing_metadata")
    found = _RichDetails.read(err)
    return error_for(
        code,
        details,
        request_id=found.request_id or _metadata_value(trailing, REQUEST_ID_KEY),
        reason=found.reason,
        domain=found.domain,
        field_violations=found.field_violations,
        retry_after=found.retry_after,
    )


@dataclass(slots=True)
class _RichDetails:
    """What a google.rpc.Status in the trailing metadata says beyond its code and message."""

    reason: str | None = None
    domain: str | None = None
    request_id: str | None = None
    field_violations: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None

    @classmethod
    def read(cls, err: grpc.RpcError) -> _RichDetails:
        found = cls()
        status = _status_of(err)
        if status is None:
            return found
        for packed in status.details:
            if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                packed.Unpack(info)
                found.reason = info.reason or None
                found.domain = info.domain or None
                found.request_id = info.metadata.get(ERROR_INFO_REQUEST_ID) or None
            elif packed.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                packed.Unpack(bad_request)
                found.field_violations.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
            elif packed.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                packed.Unpack(retry)
                found.retry_after = max(0.0, retry.retry_delay.ToNanoseconds() / 1e9)
        return found


def _status_of(err: grpc.RpcError) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(err)
    except (AttributeError, TypeError, ValueError, DecodeError):
        # Not a call, or a status whose code or message disagrees with the call's: ignore the details
        # rather than hide the error itself.
        return None


def _call(err: grpc.RpcError, name: str) -> Any:
    method = getattr(err, name, None)
    return method() if callable(method) else None


def _metadata_value(metadata: Iterable[tuple[str, Any]] | None, key: str) -> str | None:
    for item_key, value in metadata or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None
