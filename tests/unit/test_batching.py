"""The micro-batcher on a fake batch runner: gathering, caps, per-job stops and failures."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.errors import CancelledError
from service.models.batching import BatchPolicy, Job, MicroBatcher


class FakeRunner:
    """Echoes each prompt reversed and records the batch sizes it was given."""

    def __init__(self, fail: bool = False, delay_s: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.fail = fail
        self.delay_s = delay_s

    def __call__(self, jobs: list[Job]) -> None:
        self.sizes.append(len(jobs))
        time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("fake batch failure")
        for job in jobs:
            job.future.set_result(list(reversed(job.prompt))[: job.max_new_tokens])


def test_concurrent_submissions_share_a_batch():
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.05))
    barrier = threading.Barrier(6)

    def submit(i: int) -> list[list[int]]:
        barrier.wait()
        return batcher.submit([Job([i, i + 1, i + 2], 10)])

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(submit, range(6)))
    assert results == [[[i + 2, i + 1, i]] for i in range(6)]
    assert sum(runner.sizes) == 6 and max(runner.sizes) >= 3
    batcher.close()


def test_batch_size_and_token_caps():
    runner = FakeRunner(delay_s=0.01)
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=3, max_delay_s=0.05, max_tokens=10))
    jobs = [Job([1] * 4, 5) for _ in range(7)]
    batcher.submit(jobs)
    assert max(runner.sizes) <= 2  # 3 jobs of 4 tokens would pass the 10-token cap
    assert sum(runner.sizes) == 7
    batcher.close()


def test_stopped_jobs_are_dropped_before_running():
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_delay_s=0.01))
    with pytest.raises(CancelledError):
        batcher.submit([Job([1, 2], 4, should_stop=lambda: True)])
    assert runner.sizes == []
    assert batcher.submit([Job([1, 2], 4)]) == [[2, 1]]
    batcher.close()


def test_a_failing_batch_fails_its_callers_and_the_batcher_survives():
    runner = FakeRunner(fail=True)
    batcher = MicroBatcher(runner, BatchPolicy(max_delay_s=0.0))
    with pytest.raises(RuntimeError, match="fake batch failure"):
        batcher.submit([Job([1], 2)])
    runner.fail = False
    assert batcher.submit([Job([3, 4], 2)]) == [[4, 3]]
    batcher.close()
