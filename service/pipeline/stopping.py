"""Cooperative stopping: the check a run makes between model calls, and between the sentences, chunks
and rounds of the text work around them, for cancellation and deadlines."""

from __future__ import annotations

from collections.abc import Callable

from service.errors import RequestCancelledError

# True once the caller has gone away or its deadline has passed.
StopCheck = Callable[[], bool]


def never_stop() -> bool:
    return False


def check_stop(should_stop: StopCheck | None) -> None:
    """Raise RequestCancelledError when the run should stop."""
    if should_stop is not None and should_stop():
        raise RequestCancelledError("the request was cancelled or its deadline passed")


def checkpoint(should_stop: StopCheck | None) -> Callable[[], None]:
    """`check_stop` as a callback, for the loops of the text layer (sentence splitting, chunking)."""
    return lambda: check_stop(should_stop)
