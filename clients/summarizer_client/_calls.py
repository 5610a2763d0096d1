"""Per-call rules the blocking and the asyncio client share: deadlines, health polling, argument types."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import grpc

Mode = Literal["abstractive", "extractive"]
Length = Literal["short", "medium", "long"]
Metadata = Sequence[tuple[str, str | bytes]]
#: A PEM file's path, or its bytes.
PemSource = str | Path | bytes

# How long wait_ready sleeps between two health checks that did not say SERVING.
POLL_INTERVAL_S = 0.2

# Codes that can clear while a server starts: not listening yet, or health not registered yet.
TRANSIENT_HEALTH_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DEADLINE_EXCEEDED}
)


def positive_timeout(timeout: float) -> float:
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def time_left(deadline: float) -> float:
    """Seconds until `deadline` (a time.monotonic() value), for a call's timeout."""
    # gRPC wants a positive timeout; a spent deadline fails the call with DEADLINE_EXCEEDED.
    return max(deadline - time.monotonic(), 1e-3)
