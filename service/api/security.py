"""Transport and caller security: optional bearer-token auth and TLS / mutual-TLS credentials.

Auth is a server interceptor placed before the error interceptor. A call to the summarizer (or any
other non-exempt method) must carry `authorization: Bearer <token>`; a missing, malformed or wrong
token is an `UnauthenticatedError` with one fixed message, so that a caller cannot tell which it was.
Its status comes from the same table as every other error (`api/status.py`).
Health checking and reflection stay open: load balancers and tooling probe them without secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from service.api.status import STATUS_DETAILS_KEY, rich_status, status_code_for
from service.config import Settings
from service.errors import ConfigurationError, UnauthenticatedError
from service.metrics import Counters

log = logging.getLogger(__name__)

AUTHORIZATION_HEADER = "authorization"
UNAUTHENTICATED_MESSAGE = "missing or invalid bearer token"
#: Services reachable without a token.
EXEMPT_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


def _digest(token: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the token's length too.
    return hashlib.sha256(token.encode("utf-8")).digest()


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without the right `authorization: Bearer <token>` metadata."""

    def __init__(
        self,
        token: str,
        *,
        exempt_services: tuple[str, ...] = EXEMPT_SERVICES,
        metrics: Counters | None = None,
    ) -> None:
        if not token:
            raise ValueError("an empty token would let everyone in")
        self._expected = _digest(token)
        self._exempt = tuple(f"/{name}/" for name in exempt_services)
        self._metrics = metrics
        # Every refusal is the same, so its status is built once.
        refusal = UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
        self._code = status_code_for(refusal)
        self._denial = _denial_trailers(refusal)

    def authorized(self, metadata: Any) -> bool:
        """True when the first `authorization` entry is `Bearer <the token>` (scheme case-insensitive)."""
        for key, value in metadata or ():
            if key != AUTHORIZATION_HEADER:
                continue
            if isinstance(value, bytes):
                return False
            scheme, _, given = value.strip().partition(" ")
            matches = hmac.compare_digest(_digest(given.strip()), self._expected)
            return scheme.lower() == "bearer" and matches
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method.startswith(self._exempt) or self.authorized(handler_call_details.invocation_metadata):
            return await continuation(handler_call_details)
        if self._metrics is not None:
            self._metrics.add("auth_failures")
        log.info("%s refused: %s", method, UNAUTHENTICATED_MESSAGE)
        handler = await continuation(handler_call_details)
        # Same shape as the real method, but the request is never deserialized.
        if handler is not None and handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._deny_stream)
        if handler is not None and handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._deny)
        if handler is not None and handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(self._deny_stream)
        return grpc.unary_unary_rpc_method_handler(self._deny)

    async def _deny(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(self._code, UNAUTHENTICATED_MESSAGE, self._denial)

    async def _deny_stream(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(self._code, UNAUTHENTICATED_MESSAGE, self._denial)
        yield  # unreachable: makes this an async generator, as a streaming handler must be


def _denial_trailers(refusal: UnauthenticatedError) -> tuple[tuple[str, bytes | str], ...]:
    # The refusal comes before the error interceptor gives the call a request id: none to quote.
    status = rich_status(refusal, request_id="")
    return (
        (STATUS_DETAILS_KEY, status.SerializeToString()),
        ("www-authenticate", 'Bearer realm="summarizer"'),
    )


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings' PEM files, or None for plaintext.

    The files are checked with the standard library first, so that a key that does not match its
    certificate, or an unreadable CA bundle, stops the server at start-up with a clear line.
    """
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        check = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        check.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca is not None:
            check.load_verify_locations(cafile=settings.tls_client_ca)
        cert = settings.tls_cert.read_bytes()
        key = settings.tls_key.read_bytes()
        client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca is not None else None
    except OSError as exc:  # ssl.SSLError included
        raise ConfigurationError(f"TLS files unusable: {exc}") from None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def describe_transport(settings: Settings) -> str:
    """One line for the start-up log: which security is on (never the secrets themselves)."""
    if settings.tls_client_ca is not None:
        transport = "mutual TLS"
    elif settings.tls_cert is not None:
        transport = "TLS"
    else:
        transport = "plaintext"
    auth = "bearer token required" if settings.bearer_token() else "no auth"
    return f"{transport}, {auth}"
