"""The one table that maps domain exceptions to gRPC status codes, with google.rpc details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from service import errors

DOMAIN = "summarizer.v1"
#: The trailer that carries the serialized google.rpc.Status.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Most specific first: the first matching class wins.
STATUS_TABLE: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (errors.InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.RequestTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.NotReadyError, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.RequestCancelledError, grpc.StatusCode.CANCELLED),
    (errors.LowConfidenceError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ModelError, grpc.StatusCode.INTERNAL),
)


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    for kind, code in STATUS_TABLE:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def public_message(exc: BaseException, request_id: str) -> str:
    """What the caller may read: the domain message, or a generic line with the request id."""
    code = status_code_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        return f"internal error; quote request id {request_id} when reporting it"
    assert isinstance(exc, errors.SummarizerError)
    return exc.message


def rich_status(exc: BaseException, request_id: str) -> status_pb2.Status:
    """A google.rpc.Status with ErrorInfo, and BadRequest or RetryInfo where they apply.

    `request_id` is empty only for a call refused before it was given one (a bad bearer token):
    its ErrorInfo then carries no request id.
    """
    code = status_code_for(exc)
    details = []
    reason = exc.reason if isinstance(exc, errors.SummarizerError) else errors.Reason.INTERNAL
    metadata = {"request_id": request_id} if request_id else {}
    details.append(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata))
    if isinstance(exc, errors.InvalidInputError):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.description)
                ]
            )
        )
    if isinstance(exc, errors.OverloadedError):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(exc.retry_after_s * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    return status_pb2.Status(
        code=getattr(code_pb2, code.name), message=public_message(exc, request_id), details=packed
    )
