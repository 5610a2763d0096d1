"""Admission control in front of inference: a bounded number of requests running or queued, and a
bounded amount of memory charged to them.

Summarize, StreamSummarize and Translate enter through `Admission.admit()`. DetectLanguage and
ListModels are cheap and skip it; health and reflection never reach the servicer at all.

- Up to `max_running` admitted requests hold a running slot at once, each with a pipeline worker of
  the runner; a CTranslate2 model batches the work of the running requests together.
- Each request is also charged its estimated peak memory (`CostModel`), and the running requests'
  charges together stay within the memory pool (`MemoryPool`: the server's memory budget less what
  the loaded models already hold). A request whose charge does not fit waits, like one without a
  slot; one that would not fit even in an empty server is refused at once (RequestTooLargeError,
  RESOURCE_EXHAUSTED with reason REQUEST_TOO_LARGE, no RetryInfo: the same request will never fit).
- Up to `max_queue` more wait for a slot and room, first in, first out (a large request at the head
  is not overtaken by small ones, so it cannot starve).
- Past that a request is refused at once, without waiting: OverloadedError, i.e. RESOURCE_EXHAUSTED
  with a RetryInfo delay estimated from how long requests have recently held their slots.
- A queued request whose deadline passes is dropped before it runs (DeadlineError), and so is one
  whose deadline has passed by the time it reaches a slot, or that arrives already expired.
- Once the server drains (`drain()`), queued requests are refused at once with NotReadyError
  (UNAVAILABLE: a retrying client goes to another replica) and so is anything that arrives after.

The cost model: where the memory of a request goes
--------------------------------------------------
Measured on the `tiny` profile (SmolLM2-135M, CTranslate2 int8, 2 cores). The model alone (one
CTranslate2 generator; peak RSS over the loaded model, read from /proc):

    one prompt of 512 tokens (~2,000 characters)                +159 MB
    two prompts of 768 tokens in one batch                      +335 MB
    one prompt of 1,536 tokens (one chunk, ~6,000 characters)   +364 MB
    four such prompts in one batch                              +1,365 MB  (~340 MB each)

The whole server (peak RSS with psutil; 0.42 GB once loaded):

    one 100,000-character article (17 chunks, batched by 16)    3.9 GB after 4 minutes, still rising
    eight 5,500-character articles at once, admitted by count   2.6 GB
    the same with --memory-budget-mb 1200                       1.1 GB (two at a time), all answered

The memory is the model's working set for the prompts in flight (attention over each prompt, its
key/value cache), so it grows with the characters a request sends to the model, not with the number
of requests. `CostModel` charges a fixed part (64 MB) plus 48 KB per character of input, per target for
Translate (every text is translated into every target): 160 MB for 2,000 characters, 350 MB for
6,000, 4.8 GB for 100,000, within 10% of the figures above. Larger models need larger figures; the
pool (`--memory-budget-mb`) is what an operator sets. When the models size their batches to the memory
one batch may use (CTranslate2 runtimes: a third of the budget, service/models/batch_costs.py), a
request's model part is charged at most that much (`max_model_bytes`): its chunks then go to the model
in batches that fit, so a long article waits for room instead of being refused. With the transformers
runtime nothing sizes the batches, the charge is not capped, and a request larger than the whole budget
is refused (REQUEST_TOO_LARGE) rather than let take the memory.

Everything here runs on the server's event loop, so the book-keeping needs no lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service.api.runner import StopSignal
from service.config import Settings
from service.errors import (
    DeadlineError,
    NotReadyError,
    OverloadedError,
    RequestCancelledError,
    RequestTooLargeError,
)
from service.metrics import Counters

# RetryInfo bounds: never "retry now", never "come back in an hour".
_MIN_RETRY_S = 0.05
_MAX_RETRY_S = 30.0
# Weight of the newest hold time in the moving average.
_EWMA_WEIGHT = 0.2
# gRPC ends a call at its deadline by its own clock, which can run a hair ahead of ours.
_DEADLINE_SLACK_S = 0.01
_MB = 1 << 20


@dataclass(frozen=True)
class CostModel:
    """Estimated peak memory of one request, in bytes, from what it sends to the models."""

    fixed_bytes: int = 64 * _MB  # the first prompt's workspace; request, plan and results are small beside it
    bytes_per_char: int = 48 * 1024  # ~350 MB with the fixed part per 6,000-character chunk in flight
    bytes_per_extra_target: int = 24 * _MB  # each further summary target: one short translation prompt
    # The model memory one request can hold at once when the models size their batches to it: its chunks
    # go through one batch at a time, so a longer text takes longer, not more. None: no such bound.
    max_model_bytes: int | None = None

    def summary(self, chars: int, targets: int) -> int:
        extra_targets = max(0, targets - 1)
        model = self._model(chars * self.bytes_per_char + extra_targets * self.bytes_per_extra_target)
        return self.fixed_bytes + model

    def translation(self, chars: int, targets: int) -> int:
        return self.fixed_bytes + self._model(chars * self.bytes_per_char * max(1, targets))

    def _model(self, cost: int) -> int:
        return cost if self.max_model_bytes is None else min(cost, self.max_model_bytes)


class MemoryPool:
    """The bytes that admitted requests may be charged together."""

    def __init__(self, total_bytes: int) -> None:
        if total_bytes < 1:
            raise ValueError("the memory pool must be positive")
        self.total_bytes = total_bytes
        self.charged_bytes = 0

    def fits(self, cost: int) -> bool:
        return self.charged_bytes + cost <= self.total_bytes


@dataclass
class _Waiter:
    slot: asyncio.Future[None]
    cost: int


class Admission:
    """Running slots and a memory pool, plus a bounded FIFO queue, with fast refusal past them."""

    def __init__(
        self,
        max_running: int = Settings.max_concurrent_requests,
        max_queue: int = Settings.max_queue,
        metrics: Counters | None = None,
        *,
        memory_bytes: int | None = None,
        costs: CostModel | None = None,
    ) -> None:
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        if max_queue < 0:
            raise ValueError("max_queue must not be negative")
        self.max_running = max_running
        self.max_queue = max_queue
        self.metrics = metrics if metrics is not None else Counters()
        self.costs = costs if costs is not None else CostModel()
        # None: no memory limit (until `limit_memory`); requests are then counted, not charged.
        self.memory: MemoryPool | None = MemoryPool(memory_bytes) if memory_bytes is not None else None
        self._running = 0
        self._waiting: deque[_Waiter] = deque()
        self._mean_hold_s = 1.0
        self._draining = False

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Counters | None = None) -> Admission:
        """Slots and queue from the settings; the memory pool is set once the models are loaded."""
        return cls(settings.max_concurrent_requests, settings.max_queue, metrics)

    def limit_memory(self, total_bytes: int, max_model_bytes: int | None = None) -> None:
        """Charge requests against `total_bytes` from now on (what the loaded models leave of the budget),
        each at most `max_model_bytes` for its model work when the models' batches are sized to that."""
        self.memory = MemoryPool(max(1, total_bytes))
        self.costs = dataclasses.replace(self.costs, max_model_bytes=max_model_bytes)

    @property
    def running(self) -> int:
        return self._running

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def charged_bytes(self) -> int:
        return self.memory.charged_bytes if self.memory is not None else 0

    def drain(self) -> int:
        """Refuse every queued request now, and every later one; returns how many were queued."""
        self._draining = True
        refused = 0
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.slot.done():
                waiter.slot.set_exception(_draining_error())
                refused += 1
        if refused:
            self.metrics.add("requests_refused_draining", refused)
        return refused

    @asynccontextmanager
    async def admit(self, stop: StopSignal, cost: int = 0) -> AsyncIterator[None]:
        """Hold a running slot (and `cost` bytes of the pool) for the body.

        Raises OverloadedError, RequestTooLargeError, NotReadyError or DeadlineError instead of running.
        """
        await self._acquire(stop, cost)
        started = time.monotonic()
        try:
            yield
        finally:
            self._release(cost, time.monotonic() - started)

    async def _acquire(self, stop: StopSignal, cost: int) -> None:
        self._refuse_at_once(stop, cost)
        if not self._waiting and self._fits(cost):
            self._take(cost)
            self.metrics.add("requests_admitted")
            return
        if len(self._waiting) >= self.max_queue:
            self.metrics.add("requests_rejected")
            raise OverloadedError(
                f"the server is at capacity ({self._running} requests running, {len(self._waiting)} "
                "queued); retry later",
                retry_after_s=self._retry_after_s(),
            )
        waiter = _Waiter(asyncio.get_running_loop().create_future(), cost)
        self._waiting.append(waiter)
        await self._wait_for_slot(stop, waiter)
        # A slot was handed over; the request may still have expired or been cancelled meanwhile.
        if stop():
            self._release(cost, None)
            if stop.expired():
                self._expired()
            raise RequestCancelledError("the caller went away while the request was queued")
        self.metrics.add("requests_admitted")

    def _refuse_at_once(self, stop: StopSignal, cost: int) -> None:
        """Refusals that need no wait: draining, an expired deadline, a request larger than the budget."""
        if self._draining:
            self.metrics.add("requests_refused_draining")
            raise _draining_error()
        if stop.expired():
            self._expired()
        if self.memory is not None and cost > self.memory.total_bytes:
            self.metrics.add("requests_too_large")
            raise RequestTooLargeError(
                f"the request needs about {cost / _MB:.0f} MB of memory and the server's budget for "
                f"requests is {self.memory.total_bytes / _MB:.0f} MB; send a shorter text or fewer "
                "target languages"
            )

    async def _wait_for_slot(self, stop: StopSignal, waiter: _Waiter) -> None:
        """Wait in the queue until a slot is handed over; the deadline, a cancel or a drain end the wait."""
        timeout = None if stop.deadline is None else max(0.0, stop.deadline - time.monotonic())
        try:
            await asyncio.wait((waiter.slot,), timeout=timeout)
        except asyncio.CancelledError:  # the call ended while queued: deadline, or the caller left
            self._abandon(waiter)
            if stop.deadline is not None and time.monotonic() >= stop.deadline - _DEADLINE_SLACK_S:
                self.metrics.add("requests_expired_in_queue")
            raise
        if not waiter.slot.done():
            self._abandon(waiter)
            self._expired()
        refusal = waiter.slot.exception()
        if refusal is not None:  # the server began to drain while this request waited
            raise refusal

    def _fits(self, cost: int) -> bool:
        if self._running >= self.max_running:
            return False
        # An idle server takes any request that fits the whole pool (checked on arrival).
        return self.memory is None or self._running == 0 or self.memory.fits(cost)

    def _take(self, cost: int) -> None:
        self._running += 1
        if self.memory is not None:
            self.memory.charged_bytes += cost

    def _expired(self) -> None:
        self.metrics.add("requests_expired_in_queue")
        raise DeadlineError("the deadline passed before the request could start")

    def _abandon(self, waiter: _Waiter) -> None:
        """Leave the queue; a slot handed over at the last moment goes on to the next in line."""
        slot = waiter.slot
        if slot.done() and not slot.cancelled():
            if slot.exception() is None:  # handed over: give it back
                self._release(waiter.cost, None)
            return
        try:
            self._waiting.remove(waiter)
        except ValueError:
            pass
        slot.cancel()
        self._hand_over()  # the one that left may have been holding up smaller ones behind it

    def _release(self, cost: int, held_s: float | None) -> None:
        if held_s is not None:
            self._mean_hold_s += _EWMA_WEIGHT * (held_s - self._mean_hold_s)
        self._running -= 1
        if self.memory is not None:
            self.memory.charged_bytes = max(0, self.memory.charged_bytes - cost)
        self._hand_over()

    def _hand_over(self) -> None:
        """Give slots to the head of the queue while it fits, in order."""
        while self._waiting:
            head = self._waiting[0]
            if head.slot.done():  # cancelled, and not yet removed by its owner
                self._waiting.popleft()
                continue
            if not self._fits(head.cost):
                return
            self._waiting.popleft()
            self._take(head.cost)
            head.slot.set_result(None)

    def _retry_after_s(self) -> float:
        """About how long until a queue position frees up."""
        estimate = self._mean_hold_s * (len(self._waiting) + 1) / self.max_running
        return round(min(_MAX_RETRY_S, max(_MIN_RETRY_S, estimate)), 3)


def _draining_error() -> NotReadyError:
    return NotReadyError("the server is shutting down; retry on another replica")
