"""Admission control in front of inference: a bounded number of requests running or queued.

Summarize, StreamSummarize and Translate enter through `Admission.admit()`. DetectLanguage and
ListModels are cheap and skip it; health and reflection never reach the servicer at all.

- Up to `max_running` admitted requests hold a running slot at once, each with a pipeline worker of
  the runner; a CTranslate2 model batches the work of the running requests together.
- Up to `max_queue` more wait for a slot, first in, first out.
- Past that a request is refused at once, without waiting: OverloadedError, i.e. RESOURCE_EXHAUSTED
  with a RetryInfo delay estimated from how long requests have recently held their slots.
- A queued request whose deadline passes is dropped before it runs (DeadlineError), and so is one
  whose deadline has passed by the time it reaches a slot, or that arrives already expired.

Everything here runs on the server's event loop, so the book-keeping needs no lock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.api.runner import StopSignal
from service.config import Settings
from service.errors import DeadlineError, OverloadedError, RequestCancelledError
from service.metrics import Counters

# RetryInfo bounds: never "retry now", never "come back in an hour".
_MIN_RETRY_S = 0.05
_MAX_RETRY_S = 30.0
# Weight of the newest hold time in the moving average.
_EWMA_WEIGHT = 0.2
# gRPC ends a call at its deadline by its own clock, which can run a hair ahead of ours.
_DEADLINE_SLACK_S = 0.01


class Admission:
    """Running slots plus a bounded FIFO queue, with fast refusal past both."""

    def __init__(
        self,
        max_running: int = Settings.max_concurrent_requests,
        max_queue: int = Settings.max_queue,
        metrics: Counters | None = None,
    ) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        if max_queue < 0:
            raise ValueError("max_queue must not be negative")
        self.max_running = max_running
        self.max_queue = max_queue
        self.metrics = metrics if metrics is not None else Counters()
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._mean_hold_s = 1.0

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Counters | None = None) -> Admission:
        return cls(settings.max_concurrent_requests, settings.max_queue, metrics)

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @asynccontextmanager
    async def admit(self, stop: StopSignal) -> AsyncIterator[None]:
        """Hold a running slot for the body; raise OverloadedError or DeadlineError instead of running."""
        await self._acquire(stop)
        started = time.monotonic()
        try:
            yield
        finally:
            self._release(time.monotonic() - started)

    async def _acquire(self, stop: StopSignal) -> None:
        if stop.expired():
            self._expired()
        if self._running < self.max_running and not self._waiting:
            self._running += 1
            self.metrics.add("requests_admitted")
            return
        if len(self._waiting) >= self.max_queue:
            self.metrics.add("requests_rejected")
            raise OverloadedError(
                f"the server is at capacity ({self._running} requests running, {len(self._waiting)} "
                "queued); retry later",
                retry_after_s=self._retry_after_s(),
            )
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(slot)
        timeout = None if stop.deadline is None else max(0.0, stop.deadline - time.monotonic())
        try:
            await asyncio.wait((slot,), timeout=timeout)
        except asyncio.CancelledError:  # the call ended while queued: deadline, or the caller left
            self._abandon(slot)
            if stop.deadline is not None and time.monotonic() >= stop.deadline - _DEADLINE_SLACK_S:
                self.metrics.add("requests_expired_in_queue")
            raise
        if not slot.done():
            self._abandon(slot)
            self._expired()
        # A slot was handed over; the request may still have expired or been cancelled meanwhile.
        if stop():
            self._release(None)
            if stop.expired():
                self._expired()
            raise RequestCancelledError("the caller went away while the request was queued")
        self.metrics.add("requests_admitted")

    def _expired(self) -> None:
        self.metrics.add("requests_expired_in_queue")
        raise DeadlineError("the deadline passed before the request could start")

    def _abandon(self, slot: asyncio.Future[None]) -> None:
        """Leave the queue; a slot handed over at the last moment goes on to the next in line."""
        if slot.done() and not slot.cancelled():
            self._release(None)
            return
        try:
            self._waiting.remove(slot)
        except ValueError:
            pass
        slot.cancel()

    def _release(self, held_s: float | None) -> None:
        if held_s is not None:
            self._mean_hold_s += _EWMA_WEIGHT * (held_s - self._mean_hold_s)
        while self._waiting:
            slot = self._waiting.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot passes straight on: `_running` stays the same
                return
        self._running -= 1

    def _retry_after_s(self) -> float:
        """About how long until a queue position frees up."""
        estimate = self._mean_hold_s * (len(self._waiting) + 1) / self.max_running
        return round(min(_MAX_RETRY_S, max(_MIN_RETRY_S, estimate)), 3)
