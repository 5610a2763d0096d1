"""The server's own counters: admission, stopped generations, stalled streams, refused credentials.

Plain integers behind a lock, so that the event loop and the model thread can both bump them.
No grpc and no exporter here: the server keeps one `Counters` and tests (or a future metrics
endpoint) read `snapshot()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from service.errors import DeadlineError, RequestCancelledError

T = TypeVar("T")

#: Every counter the server keeps; bumping any other name is a programming error.
COUNTER_NAMES = (
    "requests_admitted",  # got a running slot (at once or after queueing)
    "requests_rejected",  # refused at once: running slots and queue both full
    "requests_expired_in_queue",  # dropped before running: the deadline passed while it waited
    "requests_too_large",  # refused at once: its estimated memory is more than the whole budget
    "requests_refused_draining",  # refused with UNAVAILABLE: queued (or arriving) when the drain began
    "streams_send_timed_out",  # streams let go of: the client took no message within the send timeout
    "generations_stopped",  # model work that stopped early on a deadline or cancellation
    "auth_failures",  # calls refused for a missing or wrong bearer token
)


class Counters:
    """Named, monotonically increasing counters, safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(COUNTER_NAMES, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            if name not in self._values:
                raise KeyError(f"unknown counter {name!r}; known: {', '.join(COUNTER_NAMES)}")
            self._values[name] += amount

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)

    def count_stops(self, iterator: Iterator[T]) -> Iterator[T]:
        """Pass `iterator` through, counting a generation stopped where it actually stops.

        The count goes up on the model thread when the model gives up at a decoding step
        (RequestCancelledError / DeadlineError), or when the consumer closes the run before its end.
        """
        return _CountedRun(iterator, self)

    def count_stops_of(self, fn: Callable[..., T]) -> Callable[..., T]:
        """`fn` with a stopped run counted as in `count_stops`."""

        def counted(*args: object) -> T:
            try:
                return fn(*args)
            except (RequestCancelledError, DeadlineError):
                self.add("generations_stopped")
                raise

        return counted


class _CountedRun(Iterator[T]):
    """A run advanced on worker threads, whose `close()` may come from another worker mid-step.

    Closing a generator while another thread is inside it raises "generator already executing";
    here a close that arrives mid-step is deferred until that step returns (the stop signal,
    already set by then, ends the step at its next check).
    """

    def __init__(self, inner: Iterator[T], counters: Counters) -> None:
        self._inner = inner
        self._counters = counters
        self._lock = threading.Lock()
        self._stepping = False
        self._close_requested = False
        self._finished = False

    def __next__(self) -> T:
        with self._lock:
            if self._finished:
                raise StopIteration
            self._stepping = True
        try:
            return next(self._inner)
        except StopIteration:
            self._finished = True
            raise
        except (RequestCancelledError, DeadlineError):
            self._finished = True
            self._counters.add("generations_stopped")
            raise
        except BaseException:
            self._finished = True
            raise
        finally:
            with self._lock:
                self._stepping = False
                close_now = self._close_requested and not self._finished
            if close_now:
                self._close_inner()

    def close(self) -> None:
        with self._lock:
            if self._finished:
                return
            if self._stepping:
                self._close_requested = True
                return
        self._close_inner()

    def _close_inner(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._counters.add("generations_stopped")  # closed before its end: the consumer went away
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
