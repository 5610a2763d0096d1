"""How a client dials the service: the target, the gRPC service config and the credentials.

Both clients, the blocking and the asyncio one, build their channels from these pieces, so that
they retry, balance and authenticate alike.

Retries are gRPC's own (`retryPolicy` in the service config): a call that ends UNAVAILABLE (a
replica draining or restarting, a connection reset) is tried again with exponential backoff,
within the call's deadline. gRPC retries a streaming call only until the first response arrives;
after that, an UNAVAILABLE stream is the caller's to restart.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

SERVICE_NAME = "summarizer.v1.SummarizerService"
DEFAULT_TARGET = "127.0.0.1:50051"

#: gRPC caps maxAttempts at 5, the first attempt included.
MAX_RETRY_ATTEMPTS = 5
# gRPC waits about min(INITIAL * MULTIPLIER**(n-1), MAX), jittered, before retry n: 0.1 + 0.2 + 0.4 + 0.8 s
# for the four retries of five attempts. Long enough for round robin to leave a replica that is going
# away; a lone server that restarts takes longer, which `wait_for_ready` covers.
_INITIAL_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 1.0
_BACKOFF_MULTIPLIER = 2.0

LOAD_BALANCING_POLICIES = ("round_robin", "pick_first")


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Everything about a channel that is not per call."""

    #: Attempts per call for UNAVAILABLE, the first included; 1 turns retries off.
    max_attempts: int = MAX_RETRY_ATTEMPTS
    #: "round_robin" spreads calls over every address the target resolves to.
    load_balancing: str = "round_robin"
    #: Calls wait (within their deadline) for a connection instead of failing at once when none is up.
    wait_for_ready: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_RETRY_ATTEMPTS:
            raise ValueError(f"max_attempts must be 1..{MAX_RETRY_ATTEMPTS}, not {self.max_attempts!r}")
        if self.load_balancing not in LOAD_BALANCING_POLICIES:
            raise ValueError(
                f"load_balancing must be one of {', '.join(LOAD_BALANCING_POLICIES)}, "
                f"not {self.load_balancing!r}"
            )

    def service_config(self) -> dict[str, Any]:
        """The gRPC service config: load balancing, and the retry policy of every summarizer method."""
        method: dict[str, Any] = {"name": [{"service": SERVICE_NAME}]}
        if self.max_attempts > 1:
            method["retryPolicy"] = {
                "maxAttempts": self.max_attempts,
                "initialBackoff": f"{_INITIAL_BACKOFF_S}s",
                "maxBackoff": f"{_MAX_BACKOFF_S}s",
                "backoffMultiplier": _BACKOFF_MULTIPLIER,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        if self.wait_for_ready:
            method["waitForReady"] = True
        return {"loadBalancingConfig": [{self.load_balancing: {}}], "methodConfig": [method]}

    def options(self, extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
        """Channel options; an option of the same name in `extra` replaces the one made here."""
        own = [
            ("grpc.service_config", json.dumps(self.service_config(), sort_keys=True)),
            ("grpc.enable_retries", 1 if self.max_attempts > 1 else 0),
        ]
        given = {name for name, _ in extra}
        return [option for option in own if option[0] not in given] + list(extra)


def normalise_target(target: str) -> str:
    """The gRPC target for `target`, which may also be a bare comma list of IP addresses.

    gRPC understands "host:port", "dns:///host:port", "unix:path" and "ipv4:a:p,b:p" itself; a
    bare "127.0.0.1:1,127.0.0.1:2" would be read as one DNS name, so it gets the "ipv4:" (or
    "ipv6:") scheme it needs. Anything else is passed through unchanged.
    """
    target = target.strip()
    if not target:
        raise ValueError("the target must not be empty")
    if "," not in target:
        return target
    parts = [part.strip() for part in target.split(",")]
    for scheme, family in (("ipv4", ipaddress.IPv4Address), ("ipv6", ipaddress.IPv6Address)):
        if all(_is_address(part, family) for part in parts):
            return f"{scheme}:{','.join(parts)}"
    return target


def _is_address(part: str, family: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    host, sep, port = part.rpartition(":")
    if not sep or not port.isdigit():
        return False
    if family is ipaddress.IPv6Address:
        if not (host.startswith("[") and host.endswith("]")):
            return False
        host = host[1:-1]
    try:
        family(host)
    except ValueError:
        return False
    return True


def tls_credentials(
    *,
    ca_cert: str | Path | bytes | None = None,
    client_cert: str | Path | bytes | None = None,
    client_key: str | Path | bytes | None = None,
) -> grpc.ChannelCredentials:
    """TLS channel credentials from PEM files (paths) or PEM bytes.

    `ca_cert`: the CA bundle that signed the server's certificate; None trusts the system's roots.
    `client_cert` and `client_key` together: present a client certificate (mutual TLS).
    Raises OSError when a file cannot be read and ValueError when only one half of the client pair is set.
    """
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together: set both or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(ca_cert),
        private_key=_pem(client_key),
        certificate_chain=_pem(client_cert),
    )


def _pem(source: str | Path | bytes | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).expanduser().read_bytes()


def call_metadata(
    metadata: Sequence[tuple[str, str | bytes]] | None, token: str | None
) -> tuple[tuple[str, str | bytes], ...]:
    """The metadata every call carries: the caller's, then the bearer token."""
    items = list(metadata or ())
    if token:
        items.append(("authorization", f"Bearer {token}"))
    return tuple(items)


def server_name_option(server_name: str | None) -> list[tuple[str, Any]]:
    """The option that checks the server's certificate against `server_name` instead of the target host."""
    return [("grpc.ssl_target_name_override", server_name)] if server_name else []


@dataclass(frozen=True, slots=True)
class Dial:
    """What a client needs to open its channel: target, credentials (None: plaintext), options, metadata."""

    target: str
    credentials: grpc.ChannelCredentials | None
    options: list[tuple[str, Any]]
    metadata: tuple[tuple[str, str | bytes], ...]


def dial(
    target: str,
    *,
    settings: ChannelSettings,
    credentials: grpc.ChannelCredentials | None = None,
    tls: bool = False,
    ca_cert: str | Path | bytes | None = None,
    client_cert: str | Path | bytes | None = None,
    client_key: str | Path | bytes | None = None,
    server_name: str | None = None,
    token: str | None = None,
    metadata: Sequence[tuple[str, str | bytes]] | None = None,
    options: Sequence[tuple[str, Any]] | None = None,
) -> Dial:
    """Work out how to dial `target`; TLS when `tls`, `credentials` or any certificate is given."""
    pem_given = any(source is not None for source in (ca_cert, client_cert, client_key))
    if credentials is not None and pem_given:
        raise ValueError("pass credentials, or ca_cert/client_cert/client_key, not both")
    if credentials is None and (tls or pem_given):
        credentials = tls_credentials(ca_cert=ca_cert, client_cert=client_cert, client_key=client_key)
    if server_name and credentials is None:
        raise ValueError("server_name checks the server's certificate: it needs TLS")
    return Dial(
        target=normalise_target(target),
        credentials=credentials,
        options=settings.options([*server_name_option(server_name), *(options or ())]),
        metadata=call_metadata(metadata, token),
    )
