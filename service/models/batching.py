"""Dynamic batching across concurrent requests for runtimes that decode a batch at once.

Callers on many threads submit generation jobs; one worker thread gathers what arrives within a
short delay (or until a size or token cap is hit), runs it as one batch, and hands each caller its
own result. Each job keeps its own budget and its own stop signal: a cancelled or expired job is
dropped before it runs, or stopped at the next decoding step without disturbing the others.

How long a batch waits for company, once its first job is there:
- `max_delay_s`, or `delay_fraction` of the last batch's run time when that is longer (a wait of 1%
  of a long generation costs 1% of latency; a batch of one where three were coming costs more);
- up to `max_refill_s` while fewer callers have joined than the last batch had plus those that waited
  for it, when that batch ended just now: its callers are on their way back with their next requests.
  Without that, a steady load of N clients settles into cohorts that never merge, such as a batch of
  one and a batch of N-1.

Jobs carry a `group`: only jobs of one group share a batch (a runtime puts there what one batched call
cannot vary per row, such as the beam size or the length of a forced output prefix). A job of another
group that arrives while a batch gathers is held, in arrival order, and leads a later batch.

Each job also carries the telemetry observer of the call that submitted it: every batch run is reported
(rows, prompt tokens, generated tokens) to its first job's observer, and each caller's own tokens to its
own, from its own thread (service/telemetry.py).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from service import telemetry
from service.errors import ModelLoadError, RequestCancelledError
from service.models.decoding import first_ids, generation_stopped

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One sequence to generate. `future` gets the generated ids (prompt excluded)."""

    prompt: list[int]
    max_new_tokens: int
    should_stop: Callable[[], bool] | None = None
    prefix: list[int] = field(default_factory=list)  # the output opens with these (an encoder-decoder's)
    group: Hashable = None  # jobs batch together only within one group
    caller: int = 0  # set by submit(): jobs of one submit() share it
    observer: telemetry.Observer = telemetry.NULL_OBSERVER  # set by submit(): the caller's
    future: Future[list[int]] = field(default_factory=Future)

    def stopped(self) -> bool:
        return self.should_stop is not None and self.should_stop()


RunBatch = Callable[[list[Job]], None]


class RowStops:
    """The step callback for one batched CTranslate2 call over `jobs`, one row each.

    A row stops at its own budget or its own stop signal (returning True stops that row only); the
    others carry on. `resolve()` then hands each job its output, or RequestCancelledError if it was stopped.
    """

    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = jobs
        self._stopped: set[int] = set()

    def __call__(self, step: Any) -> bool:
        job = self._jobs[step.batch_id]
        if job.stopped():
            self._stopped.add(step.batch_id)
            return True
        return bool(step.step + 1 >= job.max_new_tokens)

    def resolve(self, outputs: Sequence[list[int]]) -> None:
        for index, (job, output) in enumerate(zip(self._jobs, outputs, strict=True)):
            if index in self._stopped:
                job.future.set_exception(generation_stopped())
            else:
                job.future.set_result(first_ids(output, job.max_new_tokens))


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int = 16  # sequences per batch
    max_delay_s: float = 0.005  # how long the first job waits for company
    max_tokens: int = 32_768  # prompt tokens per batch, bounds memory and padding
    max_refill_s: float = 0.25  # how long a batch waits for the last batch's callers to come back
    delay_fraction: float = 0.01  # the first job also waits this share of the last batch's run time

    @classmethod
    def from_options(cls, model: str, options: Mapping[str, Any]) -> BatchPolicy:
        """A model spec's `max_batch`, `max_batch_delay_ms`, `max_batch_refill_ms` and `max_batch_tokens`."""
        base = cls()
        try:
            policy = cls(
                max_batch=int(options.get("max_batch", base.max_batch)),
                max_delay_s=float(options.get("max_batch_delay_ms", base.max_delay_s * 1000)) / 1000,
                max_tokens=int(options.get("max_batch_tokens", base.max_tokens)),
                max_refill_s=float(options.get("max_batch_refill_ms", base.max_refill_s * 1000)) / 1000,
            )
        except (TypeError, ValueError) as err:
            raise ModelLoadError(f"model {model!r}: batching options must be numbers ({err})") from err
        delays_ok = 0 <= policy.max_delay_s <= 1 and 0 <= policy.max_refill_s <= 1
        if policy.max_batch < 1 or policy.max_tokens < 1 or not delays_ok:
            raise ModelLoadError(
                f"model {model!r}: max_batch and max_batch_tokens must be at least 1, "
                "max_batch_delay_ms and max_batch_refill_ms between 0 and 1000"
            )
        return policy


class MicroBatcher:
    """Runs `run_batch(jobs)` on one worker thread over jobs gathered from many callers.

    `run_batch` must resolve every job's future (a result or an exception). It stays a public attribute, so
    that a test can watch the batches go by.
    """

    def __init__(
        self, run_batch: RunBatch, policy: BatchPolicy = BatchPolicy(), name: str = "batcher", model: str = ""
    ) -> None:
        self.run_batch = run_batch
        self.model = model or name  # the name its batches are reported under
        self.policy = policy
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._held: deque[Job] = deque()  # taken from the queue but of another group; worker-only
        self._closed = False
        self._callers = itertools.count(1)
        self._last_callers = 0  # callers in the last batch run, and those waiting when it ended
        self._last_end = 0.0  # when it ended (monotonic)
        self._last_run_s = 0.0  # how long it ran
        self.batches_run = 0
        self.largest_batch = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, jobs: Sequence[Job]) -> list[list[int]]:
        """Queue the jobs and wait for all of them; raises the first job's error."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        caller = next(self._callers)
        observer = telemetry.current()
        for job in jobs:
            job.caller = caller
            job.observer = observer
            self._queue.put(job)
        outputs = [job.future.result() for job in jobs]
        observer.tokens(self.model, sum(len(job.prompt) for job in jobs), sum(len(out) for out in outputs))
        return outputs

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)

    def _report(self, batch: list[Job]) -> None:
        """The batch that just ran, to its first caller's observer: all the callers' rows and tokens."""
        generated = sum(
            len(job.future.result()) for job in batch if job.future.done() and job.future.exception() is None
        )
        try:
            batch[0].observer.batch(self.model, len(batch), sum(len(job.prompt) for job in batch), generated)
        except Exception:  # an observer must not stop the batching thread, on which every caller waits
            log.exception("%s: reporting a batch failed", self._thread.name)

    def _waiting_callers(self) -> set[int]:
        with self._queue.mutex:  # a peek: the worker is the queue's only consumer
            queued = {job.caller for job in self._queue.queue if job is not None}
        return queued | {job.caller for job in self._held}

    def _gather(self, first: Job) -> list[Job]:
        batch = [first]
        tokens = len(first.prompt)

        def fits(job: Job) -> bool:
            return job.group == first.group and tokens + len(job.prompt) <= self.policy.max_tokens

        # Held jobs are older than anything in the queue: they go first when they fit.
        for job in list(self._held):
            if len(batch) == self.policy.max_batch:
                return batch
            if fits(job):
                self._held.remove(job)
                batch.append(job)
                tokens += len(job.prompt)
        now = time.monotonic()
        scaled = min(self.policy.delay_fraction * self._last_run_s, self.policy.max_refill_s)
        deadline = now + max(self.policy.max_delay_s, scaled)
        # The last batch's callers, who are likely on their way back when it ended just now, and those
        # who waited for it: a steady load of that many callers.
        expected = self._last_callers if now - self._last_end < self.policy.max_refill_s else 0
        refill_deadline = max(now + self.policy.max_refill_s, deadline)
        callers = {job.caller for job in batch}
        while len(batch) < self.policy.max_batch:
            remaining = (refill_deadline if len(callers) < expected else deadline) - time.monotonic()
            try:
                arrived = (
                    self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if arrived is None:
                self._queue.put(None)  # keep the close marker for the loop
                break
            job = arrived
            if not fits(job):
                self._held.append(job)  # another group, or too big for this batch: it leads a later one
                if job.group == first.group:
                    break  # this batch is full by tokens
                continue
            batch.append(job)
            tokens += len(job.prompt)
            callers.add(job.caller)
        return batch

    def _loop(self) -> None:
        while True:
            first = self._held.popleft() if self._held else self._queue.get()
            if first is None:
                return
            gathering = time.monotonic()
            batch = self._gather(first)
            live = []
            for job in batch:
                if job.stopped():
                    job.future.set_exception(
                        RequestCancelledError("dropped before it ran: cancelled or expired")
                    )
                else:
                    live.append(job)
            if not live:
                continue
            self.batches_run += 1
            self.largest_batch = max(self.largest_batch, len(live))
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s: batch of %d (%d input tokens) after gathering for %.1f ms; %d held back",
                    self._thread.name,
                    len(live),
                    sum(len(job.prompt) for job in live),
                    (time.monotonic() - gathering) * 1000,
                    len(self._held),
                )
            running = time.monotonic()
            try:
                self.run_batch(live)
            except BaseException as exc:  # the whole batch failed: every caller hears of it
                log.exception("batch of %d failed", len(live))
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
            self._report(live)
            self._last_callers = len({job.caller for job in live} | self._waiting_callers())
            self._last_end = time.monotonic()
            self._last_run_s = self._last_end - running
