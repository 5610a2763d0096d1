"""The step callback of one batched CTranslate2 call: where each row of the batch stops.

CTranslate2 calls it after every decoding step of every row (greedy search); returning True ends that row
only. A row ends at its job's budget, at its caller's stop signal, or once its job says the output is all
its caller will keep (`Job.finished`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from service.models.batching import Job
from service.models.decoding import first_ids, generation_stopped


class RowStops:
    """The step callback for one batched CTranslate2 call over `jobs`, one row each.

    A row stops at its own budget, at its own stop signal, or once its job says its output is finished
    (returning True stops that row only); the others carry on. `resolve()` then hands each job its
    output, or RequestCancelledError if it was stopped. `offsets`: where each row's first generated token
    falls in the step count (a decoder-only batch reads the rest of a longer prompt one step at a time,
    and the count goes on through those steps).
    """

    def __init__(self, jobs: Sequence[Job], offsets: Sequence[int] | None = None) -> None:
        self._jobs = jobs
        self._offsets = offsets if offsets is not None else [0] * len(jobs)
        self._stopped: set[int] = set()
        self._written: dict[int, list[int]] = {}  # the ids so far of rows whose job has `finished`
        self.first_step_at: float | None = None  # when the prompts were read (time.monotonic())

    def __call__(self, step: Any) -> bool:
        if self.first_step_at is None:
            self.first_step_at = time.monotonic()
        row = step.batch_id
        job = self._jobs[row]
        if job.stopped():
            self._stopped.add(row)
            return True
        written = step.step - self._offsets[row] + 1
        if job.finished is not None and written > 0:
            ids = self._written.setdefault(row, [])
            ids.append(int(step.token_id))
            if job.finished(ids):
                return True
        return bool(written >= job.max_new_tokens)

    def resolve(self, outputs: Sequence[list[int]]) -> None:
        for index, (job, output) in enumerate(zip(self._jobs, outputs, strict=True)):
            if index in self._stopped:
                job.future.set_exception(generation_stopped())
            else:
                job.future.set_result(first_ids(output, job.max_new_tokens))
