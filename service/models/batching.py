"""Dynamic batching across concurrent requests for runtimes that decode a batch at once.

Callers on many threads submit generation jobs; one worker thread gathers what arrives within a
short delay (or until a size or token cap is hit), runs it as one batch, and hands each caller its
own result. Each job keeps its own budget and its own stop signal: a cancelled or expired job is
dropped before it runs, or stopped at the next decoding step without disturbing the others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from service.errors import CancelledError

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One sequence to generate. `result` is set to the generated ids (prompt excluded)."""

    prompt: list[int]
    max_new_tokens: int
    should_stop: Callable[[], bool] | None = None
    future: Future[list[int]] = field(default_factory=Future)

    def stopped(self) -> bool:
        return self.should_stop is not None and self.should_stop()


RunBatch = Callable[[list[Job]], None]


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int = 16  # sequences per batch
    max_delay_s: float = 0.005  # how long the first job waits for company
    max_tokens: int = 32_768  # prompt tokens per batch, bounds memory and padding


class MicroBatcher:
    """Runs `run_batch(jobs)` on one worker thread over jobs gathered from many callers.

    `run_batch` must resolve every job's future (a result or an exception).
    """

    def __init__(
        self, run_batch: RunBatch, policy: BatchPolicy = BatchPolicy(), name: str = "batcher"
    ) -> None:
        self._run_batch = run_batch
        self.policy = policy
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._closed = False
        self.batches_run = 0
        self.largest_batch = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, jobs: Sequence[Job]) -> list[list[int]]:
        """Queue the jobs and wait for all of them; raises the first job's error."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        for job in jobs:
            self._queue.put(job)
        return [job.future.result() for job in jobs]

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)

    def _gather(self, first: Job) -> list[Job]:
        batch = [first]
        tokens = len(first.prompt)
        deadline = time.monotonic() + self.policy.max_delay_s
        while len(batch) < self.policy.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # keep the close marker for the loop
                break
            if tokens + len(job.prompt) > self.policy.max_tokens and batch:
                self._queue.put(job)  # too big for this batch: it leads the next one
                break
            batch.append(job)
            tokens += len(job.prompt)
        return batch

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = self._gather(first)
            live = []
            for job in batch:
                if job.stopped():
                    job.future.set_exception(CancelledError("dropped before it ran: cancelled or expired"))
                else:
                    live.append(job)
            if not live:
                continue
            self.batches_run += 1
            self.largest_batch = max(self.largest_batch, len(live))
            try:
                self._run_batch(live)
            except BaseException as exc:  # the whole batch failed: every caller hears of it
                log.exception("batch of %d failed", len(live))
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
