"""Dynamic batching across concurrent requests for runtimes that decode a batch at once.

Callers on many threads submit generation jobs; one worker thread gathers what arrives within a
short delay (or until a size or token cap is hit), runs it as one batch, and hands each caller its
own result. A runtime that decodes several batches side by side (CTranslate2's `inter_threads`) says
so with `engines`: the worker gathers up to one full batch per free engine, hands the batch to the free
engines (split between them, rows of similar prompt length together) and gathers the next one while they
run. A batch gathered while every engine was busy also takes what queued meanwhile, once an engine is
free, so that a steady load of N callers keeps every engine busy with full batches instead of running as
one batch on one engine while the others wait, or as a batch of the first caller alone.

Each job keeps its own budget and its own stop signal: a cancelled or expired job is dropped before it
runs (it takes no room in a batch), or stopped at the next decoding step without disturbing the others;
its caller stops waiting at once. Reading a batch's prompts is one step that cannot be stopped: it is
bounded by the token cap (`max_tokens`) and by the callers' deadlines (service/models/batch_costs.py).

How long a batch waits for company, once its first job is there:
- `max_delay_s`, or `delay_fraction` of the last batch's run time when that is longer (a wait of 1%
  of a long generation costs 1% of latency; a batch of one where three were coming costs more);
- up to `max_refill_s` while fewer callers have joined than the last batch had plus those that waited
  for it, when that batch ended just now: its callers are on their way back with their next requests
  (each one back gives the rest `max_refill_s` more, up to four times that in all). Without that, a
  steady load of N clients settles into cohorts that never merge, such as a batch of one and of N-1.
- with several engines, up to `max_balance_s` for a larger batch on another engine to end, when this one
  has at most half its rows: the two then merge and split evenly. Without that, N callers on two engines
  settle into a large and a small cohort (13 and 3 of 16): every batch pays a decoding step's fixed cost,
  so many small batches cost more than a few even ones (and the large cohort waits longest).

Jobs carry a `group`: only jobs of one group share a batch (a runtime puts there what one batched call
cannot vary per row, such as the beam size or the length of a forced output prefix). A job of another
group that arrives while a batch gathers is held, in arrival order, and leads a later batch.

Each job also carries the telemetry observer of the call that submitted it: every batch run is reported
(rows, prompt tokens, generated tokens) to its first job's observer, and each caller's own tokens to its
own, from its own thread (service/telemetry.py).
"""

from __future__ import annotations

import enum
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
from service.errors import DeadlineError, ModelLoadError, RequestCancelledError
from service.models.batch_costs import DEFAULT_MAX_TOKENS, PromptRate

log = logging.getLogger(__name__)

# How often a caller waiting for its jobs looks at its own stop signal.
_WAIT_SLICE_S = 0.05
# A batch waits for the last batch's callers up to this many times `max_refill_s` in all, while they keep
# coming back within `max_refill_s` of each other.
_REFILL_ARRIVALS = 4


@dataclass
class Job:
    """One sequence to generate. `future` gets the generated ids (prompt excluded)."""

    prompt: list[int]
    max_new_tokens: int
    should_stop: Callable[[], bool] | None = None
    prefix: list[int] = field(default_factory=list)  # the output opens with these (an encoder-decoder's)
    group: Hashable = None  # jobs batch together only within one group
    # Whether the output so far is all its caller will keep (asked at each step with the ids written so
    # far): the row then ends as at an end token. None: it ends at an end token or its budget.
    finished: Callable[[list[int]], bool] | None = None
    caller: int = 0  # set by submit(): jobs of one submit() share it
    observer: telemetry.Observer = telemetry.NULL_OBSERVER  # set by submit(): the caller's
    future: Future[list[int]] = field(default_factory=Future)

    def stopped(self) -> bool:
        return self.should_stop is not None and self.should_stop()

    @property
    def deadline(self) -> float | None:
        """When the caller stops waiting (time.monotonic()), if its stop signal says (a `deadline`)."""
        value = getattr(self.should_stop, "deadline", None)
        return float(value) if value is not None else None


RunBatch = Callable[[list[Job]], None]


@dataclass(frozen=True)
class BatchPolicy:
    max_batch: int = 16  # sequences per batch
    max_delay_s: float = 0.005  # how long the first job waits for company
    max_tokens: int = DEFAULT_MAX_TOKENS  # prompt tokens per batch: bounds memory, padding and the first step
    max_refill_s: float = 0.25  # how long a batch waits for the last batch's callers to come back
    delay_fraction: float = 0.01  # the first job also waits this share of the last batch's run time
    # Most prompt tokens between a batch's shortest and longest prompt (None: any). A decoder-only model
    # reads the shortest in one step and the rest of the others one token per step, each as slow as a
    # decoding step and, for a row that has not begun to write, with no stop check between them.
    max_prompt_spread: int | None = None
    # How long a batch waits for a larger one on another engine (twice its rows or more) to end, so that
    # the two merge and split evenly between the engines (0: it starts on a free engine at once).
    max_balance_s: float = 2.0

    @classmethod
    def from_options(
        cls,
        model: str,
        options: Mapping[str, Any],
        *,
        max_tokens: int | None = None,
        prompt_spread: int | None = None,
    ) -> BatchPolicy:
        """A model spec's `max_batch`, `max_batch_delay_ms`, `max_batch_refill_ms`, `max_batch_balance_ms`,
        `max_batch_tokens` and `max_batch_prompt_spread`.

        `max_tokens` is the runtime's default for `max_batch_tokens` (what fits the memory for one batch),
        `prompt_spread` its default for `max_batch_prompt_spread`.
        """
        base = cls()
        try:
            policy = cls(
                max_batch=int(options.get("max_batch", base.max_batch)),
                max_delay_s=float(options.get("max_batch_delay_ms", base.max_delay_s * 1000)) / 1000,
                max_tokens=int(options.get("max_batch_tokens", max_tokens or base.max_tokens)),
                max_refill_s=float(options.get("max_batch_refill_ms", base.max_refill_s * 1000)) / 1000,
                max_prompt_spread=_optional_int(options.get("max_batch_prompt_spread", prompt_spread)),
                max_balance_s=float(options.get("max_batch_balance_ms", base.max_balance_s * 1000)) / 1000,
            )
        except (TypeError, ValueError) as err:
            raise ModelLoadError(f"model {model!r}: batching options must be numbers ({err})") from err
        delays_ok = 0 <= policy.max_delay_s <= 1 and 0 <= policy.max_refill_s <= 1
        delays_ok = delays_ok and 0 <= policy.max_balance_s <= 10
        spread_ok = policy.max_prompt_spread is None or policy.max_prompt_spread >= 0
        if policy.max_batch < 1 or policy.max_tokens < 1 or not delays_ok or not spread_ok:
            raise ModelLoadError(
                f"model {model!r}: max_batch and max_batch_tokens must be at least 1, "
                "max_batch_delay_ms and max_batch_refill_ms between 0 and 1000, max_batch_balance_ms between "
                "0 and 10000, "
                "max_batch_prompt_spread 0 or more"
            )
        return policy


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


class _Admitted(enum.Enum):
    JOINED = "joined"
    DROPPED = "dropped"  # its caller is gone
    HELD = "held"  # another group, or too big or too long for this batch
    FULL = "full"  # held: this batch is full by tokens


def _dropped(job: Job) -> bool:
    """Resolve a job whose caller is gone (cancelled or expired); True if it was."""
    if not job.stopped():
        return False
    if not job.future.done():
        job.future.set_exception(RequestCancelledError("dropped before it ran: cancelled or expired"))
    return True


def _split(batch: list[Job], engines: int) -> list[list[Job]]:
    """`batch` in at most `engines` parts of nearly equal rows, each of prompts of similar length (a part
    is padded to its longest prompt; a decoder-only part reads its longer prompts a step at a time)."""
    parts = min(engines, len(batch))
    if parts <= 1:
        return [batch]
    ordered = sorted(batch, key=lambda job: len(job.prompt))
    size, extra = divmod(len(ordered), parts)
    out, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        out.append(ordered[start:end])
        start = end
    return out


class MicroBatcher:
    """Runs `run_batch(jobs)` on one worker thread over jobs gathered from many callers.

    `run_batch` must resolve every job's future (a result or an exception). It stays a public attribute, so
    that a test can watch the batches go by.
    """

    def __init__(
        self,
        run_batch: RunBatch,
        policy: BatchPolicy = BatchPolicy(),
        name: str = "batcher",
        model: str = "",
        engines: int = 1,
        after_batch: Callable[[], object] | None = None,
    ) -> None:
        self.run_batch = run_batch
        self.after_batch = after_batch  # called on the batch's thread once it is resolved and reported
        self.engines = max(1, engines)  # batches that may run side by side
        self._free_engines = self.engines
        self._engine_free = threading.Condition()
        self._running: list[int] = []  # rows of each batch running on an engine, under _engine_free
        self.balance_waits = 0  # batches that waited for a larger one to end (worker-only)
        self._stats = threading.Lock()
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
        self.prompt_rate = PromptRate()  # fed by the runtime, which sees when a batch's first step comes
        self.refused_late = 0  # jobs refused because their deadline came before their prompt was read
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
        outputs = [self._wait(job) for job in jobs]
        observer.tokens(self.model, sum(len(job.prompt) for job in jobs), sum(len(out) for out in outputs))
        return outputs

    @staticmethod
    def _wait(job: Job) -> list[int]:
        """The job's output. A caller that is gone stops waiting at once; its job is dropped where it is
        queued, or stopped at the next decoding step."""
        while True:
            try:
                return job.future.result(timeout=_WAIT_SLICE_S if job.should_stop is not None else None)
            except TimeoutError:
                if job.stopped():
                    raise RequestCancelledError("the caller went away while its job waited") from None

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
        held = tuple(self._held)  # one C-level copy: an engine's thread reads while the worker appends
        return queued | {job.caller for job in held}

    def _fits(self, batch: list[Job], job: Job) -> bool:
        """Whether `job` may join `batch`: its group, within the token cap and the prompt spread."""
        length = len(job.prompt)
        lengths = [len(other.prompt) for other in batch]
        if job.group != batch[0].group or sum(lengths) + length > self.policy.max_tokens:
            return False
        spread = self.policy.max_prompt_spread
        return spread is None or max(*lengths, length) - min(*lengths, length) <= spread

    def _take_held(self, batch: list[Job], rows: int) -> None:
        """Held jobs are older than anything in the queue: they join the batch first when they fit."""
        for job in list(self._held):
            if len(batch) >= rows:
                return
            if _dropped(job):
                self._held.remove(job)
            elif self._fits(batch, job):
                self._held.remove(job)
                batch.append(job)

    def _gather(self, batch: list[Job], rows: int, held_back: int = 0) -> list[Job]:
        """`batch` (its first job at least) and what joins it within the waits, up to `rows` jobs.
        `held_back`: callers in `batch` that the last batch's end did not see waiting."""
        self._take_held(batch, rows)
        now = time.monotonic()
        scaled = min(self.policy.delay_fraction * self._last_run_s, self.policy.max_refill_s)
        deadline = now + max(self.policy.max_delay_s, scaled)
        # The last batch's callers, who are likely on their way back when it ended just now, and those
        # who waited for it: a steady load of that many callers. They come back one after another (each
        # answer is checked and sent first), so each arrival gives the next `max_refill_s` more, up to
        # `_REFILL_ARRIVALS` times that in all: a batch that starts without the last few leaves them a
        # small batch of their own, which costs as many decoding steps as a full one.
        # The first of them may take a while: every caller checks its answer at once, sharing the GIL.
        window = self.policy.max_refill_s
        recent = now - self._last_end < _REFILL_ARRIVALS * window
        expected = self._last_callers + held_back if recent else 0
        refill_end = max(now + _REFILL_ARRIVALS * window, deadline)
        refill_deadline = max(now + window, deadline)
        callers = {job.caller for job in batch}
        while len(batch) < rows:
            # Those held for a later batch (another group, no room) are back too. A batch already half
            # full starts without the rest: they lead the next one, while it runs.
            back = len(callers | {job.caller for job in self._held})
            waiting = back < expected and 2 * len(batch) < rows
            remaining = (min(refill_deadline, refill_end) if waiting else deadline) - time.monotonic()
            job = self._next_queued(max(remaining, 0))
            if job is None:
                break
            admitted = self._admit(batch, job)
            if admitted is _Admitted.FULL:
                break
            if admitted is _Admitted.JOINED:
                callers.add(job.caller)
                refill_deadline = max(refill_deadline, time.monotonic() + self.policy.max_refill_s)
        return batch

    def _top_up(self, batch: list[Job], rows: int) -> None:
        """Add the held and queued jobs that fit, up to `rows`, without waiting for more; stop at the first
        that does not fit."""
        self._take_held(batch, rows)
        while len(batch) < rows:
            job = self._next_queued(0)
            if job is None or self._admit(batch, job) in (_Admitted.HELD, _Admitted.FULL):
                return

    def _next_queued(self, timeout: float) -> Job | None:
        """The next queued job within `timeout` seconds (0: only one already queued); None when none comes
        or the batcher is closing (the close marker stays queued for the loop)."""
        try:
            job = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None
        if job is None:
            self._queue.put(None)
        return job

    def _admit(self, batch: list[Job], job: Job) -> _Admitted:
        """Offer a queued job to `batch`. One of another group, or too big or too long for it, is held and
        leads a later batch; FULL says it was held because the batch is full by tokens."""
        if _dropped(job):
            return _Admitted.DROPPED
        if self._fits(batch, job):
            batch.append(job)
            return _Admitted.JOINED
        self._held.append(job)
        tokens = sum(len(other.prompt) for other in batch) + len(job.prompt)
        full = job.group == batch[0].group and tokens > self.policy.max_tokens
        return _Admitted.FULL if full else _Admitted.HELD

    def _loop(self) -> None:
        while True:
            first = self._held.popleft() if self._held else self._queue.get()
            if first is None:
                return
            if _dropped(first):
                continue
            gathering = time.monotonic()
            if self.engines == 1:
                live = self._refuse_late(
                    [job for job in self._gather([first], self.policy.max_batch) if not _dropped(job)]
                )
                if live:
                    self._run(live, gathering)
                continue
            # Room for a batch on each engine that is free now (only this thread takes engines, so no
            # fewer will be free when the batch is split).
            batch = self._gather([first], self.policy.max_batch * max(1, self._free_engines))
            if self._wait_for_larger(batch):  # it ended: its callers are on their way back
                callers = len({job.caller for job in batch})
                self._gather(batch, self.policy.max_batch * max(1, self._free_engines), callers)
            with self._engine_free:
                while self._free_engines == 0:  # meanwhile the queue fills...
                    self._engine_free.wait()
                free = self._free_engines
            # ...and what queued meanwhile joins this batch rather than waiting for the next engine.
            self._top_up(batch, self.policy.max_batch * free)
            live = self._refuse_late([job for job in batch if not _dropped(job)])
            if not live:
                continue
            parts = _split(live, free)
            with self._engine_free:
                self._free_engines -= len(parts)
                self._running.extend(len(part) for part in parts)
            for part in parts:
                threading.Thread(
                    target=self._run_on_engine,
                    args=(part, gathering),
                    name=f"{self._thread.name}-run",
                    daemon=True,
                ).start()

    def _wait_for_larger(self, batch: list[Job]) -> bool:
        """Wait, up to `max_balance_s`, for a batch running on another engine with at least twice the rows
        of `batch` to end, when an engine is free for `batch` now. True when one ended."""
        if self.policy.max_balance_s <= 0:
            return False
        with self._engine_free:
            if self._free_engines == 0 or not self._running or 2 * len(batch) > max(self._running):
                return False
            # Only this thread takes engines: while it waits, more free engines means one batch ended.
            free = self._free_engines
            self.balance_waits += 1
            return self._engine_free.wait_for(lambda: self._free_engines > free, self.policy.max_balance_s)

    def _run_on_engine(self, batch: list[Job], gathering: float) -> None:
        try:
            self._run(batch, gathering)
        finally:
            with self._engine_free:
                self._free_engines += 1
                self._running.remove(len(batch))
                self._engine_free.notify_all()

    def _run(self, live: list[Job], gathering: float) -> None:
        with self._stats:
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
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: batch of %d ran in %.1f ms",
                self._thread.name,
                len(live),
                (time.monotonic() - running) * 1000,
            )
        self._report(live)
        if self.after_batch is not None:
            try:
                self.after_batch()
            except Exception:  # like a failing observer, it must not stop the batching thread
                log.exception("%s: the after-batch hook failed", self._thread.name)
        with self._stats:
            self._last_callers = len({job.caller for job in live} | self._waiting_callers())
            self._last_end = time.monotonic()
            self._last_run_s = self._last_end - running

    def _refuse_late(self, jobs: list[Job]) -> list[Job]:
        """The jobs whose callers will still be there when the batch has read its prompts; the others are
        refused (DeadlineError) before that uninterruptible step (PromptRate.late_rows)."""
        lengths = [len(job.prompt) for job in jobs]
        late = self.prompt_rate.late_rows(lengths, [job.deadline for job in jobs], time.monotonic())
        for row in late:
            jobs[row].future.set_exception(
                DeadlineError("the deadline comes before the model could read the prompt")
            )
        self.refused_late += len(late)
        return [job for row, job in enumerate(jobs) if row not in late]
