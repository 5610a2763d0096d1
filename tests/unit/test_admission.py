"""Admission control and the server's counters, on a bare event loop (no gRPC)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from service.api.admission import Admission, CostModel
from service.api.runner import StopSignal
from service.errors import (
    DeadlineError,
    NotReadyError,
    OverloadedError,
    RequestCancelledError,
    RequestTooLargeError,
)
from service.metrics import Counters


def signal(deadline_in_s: float | None = None) -> StopSignal:
    stop = StopSignal(None)
    if deadline_in_s is not None:
        stop.deadline = time.monotonic() + deadline_in_s
    return stop


async def hold(
    admission: Admission, release: asyncio.Event, order: list[int], index: int, **kw: float
) -> None:
    async with admission.admit(signal(**kw)):
        order.append(index)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_running_then_queued_then_refused_at_once():
    admission = Admission(max_running=2, max_queue=3)
    release = asyncio.Event()
    order: list[int] = []
    tasks = [asyncio.create_task(hold(admission, release, order, i)) for i in range(5)]
    await settle()
    assert (admission.running, admission.queued, order) == (2, 3, [0, 1])

    started = time.perf_counter()
    with pytest.raises(OverloadedError) as info:
        async with admission.admit(signal()):
            pass
    assert time.perf_counter() - started < 0.01
    assert 0.05 <= info.value.retry_after_s <= 30
    assert "2 requests running, 3 queued" in info.value.message

    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]  # first in, first out
    assert (admission.running, admission.queued) == (0, 0)
    assert admission.metrics.snapshot() == {
        "requests_admitted": 5,
        "requests_rejected": 1,
        "requests_expired_in_queue": 0,
        "requests_too_large": 0,
        "requests_refused_draining": 0,
        "streams_send_timed_out": 0,
        "generations_stopped": 0,
        "auth_failures": 0,
    }


async def test_a_queued_request_whose_deadline_passes_is_dropped_before_it_runs():
    admission = Admission(max_running=1, max_queue=2)
    release = asyncio.Event()
    order: list[int] = []
    first = asyncio.create_task(hold(admission, release, order, 0))
    doomed = asyncio.create_task(hold(admission, release, order, 1, deadline_in_s=0.05))
    patient = asyncio.create_task(hold(admission, release, order, 2))
    await settle()
    assert admission.queued == 2
    started = time.perf_counter()
    with pytest.raises(DeadlineError):
        await doomed
    assert time.perf_counter() - started < 0.5  # dropped at its deadline, not when a slot frees
    assert admission.queued == 1
    release.set()
    await asyncio.gather(first, patient)
    assert order == [0, 2]
    assert admission.metrics["requests_expired_in_queue"] == 1
    assert (admission.running, admission.queued) == (0, 0)


async def test_an_expired_request_is_never_admitted():
    admission = Admission(max_running=1, max_queue=0)
    with pytest.raises(DeadlineError):
        async with admission.admit(signal(deadline_in_s=-1)):
            raise AssertionError("must not run")
    assert admission.running == 0 and admission.metrics["requests_expired_in_queue"] == 1


async def test_a_slot_handed_to_an_expired_or_cancelled_request_passes_on():
    admission = Admission(max_running=1, max_queue=3)
    expiring = signal(deadline_in_s=30)
    gone = signal()
    release = asyncio.Event()
    order: list[int] = []

    async def queued(stop: StopSignal, index: int) -> None:
        async with admission.admit(stop):
            order.append(index)

    first = asyncio.create_task(hold(admission, release, order, 0))
    late = asyncio.create_task(queued(expiring, 1))
    left = asyncio.create_task(queued(gone, 2))
    last = asyncio.create_task(queued(signal(), 3))
    await settle()
    expiring.deadline = time.monotonic() - 1  # expires while queued, after its wait began
    gone.set()  # the caller went away while queued
    release.set()
    await first
    with pytest.raises(DeadlineError):
        await late
    with pytest.raises(RequestCancelledError):
        await left
    await last
    assert order == [0, 3]
    assert (admission.running, admission.queued) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_queue_without_leaking_a_slot():
    admission = Admission(max_running=1, max_queue=1)
    release = asyncio.Event()
    order: list[int] = []
    first = asyncio.create_task(hold(admission, release, order, 0))
    waiter = asyncio.create_task(hold(admission, release, order, 1))
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert admission.queued == 0
    release.set()
    await first
    assert (admission.running, admission.queued, order) == (0, 0, [0])
    async with admission.admit(signal()):
        assert admission.running == 1


async def test_a_failing_body_releases_its_slot():
    admission = Admission(max_running=1, max_queue=0)
    with pytest.raises(ValueError):
        async with admission.admit(signal()):
            raise ValueError("boom")
    assert admission.running == 0


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        Admission(max_running=0)
    with pytest.raises(ValueError):
        Admission(max_queue=-1)


def test_counters_count_stopped_generations_where_they_stop():
    counters = Counters()

    def steps(stop_at: int | None):
        for i in range(3):
            if i == stop_at:
                raise RequestCancelledError("stopped")
            yield i

    assert list(counters.count_stops(steps(None))) == [0, 1, 2]
    assert counters["generations_stopped"] == 0
    with pytest.raises(RequestCancelledError):
        list(counters.count_stops(steps(1)))
    closed_early = counters.count_stops(steps(None))
    next(closed_early)
    closed_early.close()  # the consumer went away mid-run
    assert counters["generations_stopped"] == 2

    def deadline() -> None:
        raise DeadlineError("late")

    with pytest.raises(DeadlineError):
        counters.count_stops_of(deadline)()
    assert counters.count_stops_of(lambda x: x + 1)(1) == 2
    assert counters["generations_stopped"] == 3
    with pytest.raises(KeyError, match="known"):
        counters.add("no_such_counter")


def test_a_close_that_arrives_mid_step_waits_for_the_step():
    """Runs advance on a pool of workers: close() may come from one while another is inside a step."""
    counters = Counters()
    inside, release, closed = threading.Event(), threading.Event(), threading.Event()

    def run():
        try:
            yield "source"
            inside.set()
            release.wait(5)
            yield "summary"
            yield "never reached"
        finally:
            closed.set()

    counted = counters.count_stops(run())
    assert next(counted) == "source"
    stepping = threading.Thread(target=lambda: next(counted))
    stepping.start()
    assert inside.wait(5)
    counted.close()  # a plain generator would raise "generator already executing" here
    assert not closed.is_set()
    release.set()
    stepping.join(5)
    assert closed.is_set() and counters["generations_stopped"] == 1
    with pytest.raises(StopIteration):
        next(counted)
    counted.close()
    assert counters["generations_stopped"] == 1


# -- memory -------------------------------------------------------------------------------------


async def charged(
    admission: Admission, release: asyncio.Event, order: list[int], index: int, cost: int
) -> None:
    async with admission.admit(signal(), cost):
        order.append(index)
        await release.wait()


async def test_requests_wait_for_room_in_the_memory_pool_in_order():
    admission = Admission(max_running=4, max_queue=4, memory_bytes=1000)
    first_done, others_done = asyncio.Event(), asyncio.Event()
    order: list[int] = []
    first = asyncio.create_task(charged(admission, first_done, order, 0, 600))
    await settle()
    big = asyncio.create_task(charged(admission, others_done, order, 1, 600))
    await settle()
    small = asyncio.create_task(charged(admission, others_done, order, 2, 300))
    await settle()
    # The second does not fit beside the first; the third would, but does not overtake it.
    assert (admission.running, admission.queued, admission.charged_bytes, order) == (1, 2, 600, [0])
    first_done.set()
    await first
    await settle()
    assert (admission.running, admission.queued, admission.charged_bytes, order) == (2, 0, 900, [0, 1, 2])
    others_done.set()
    await asyncio.gather(big, small)
    assert (admission.running, admission.charged_bytes) == (0, 0)


async def test_a_request_larger_than_the_whole_pool_is_refused_at_once():
    admission = Admission(max_running=2, max_queue=2, memory_bytes=1000)
    started = time.perf_counter()
    with pytest.raises(RequestTooLargeError) as info:
        async with admission.admit(signal(), 1001):
            raise AssertionError("must not run")
    assert time.perf_counter() - started < 0.01
    assert "budget for requests is" in info.value.message
    assert admission.metrics["requests_too_large"] == 1 and admission.running == 0


async def test_an_idle_server_takes_a_request_that_fits_the_pool():
    admission = Admission(max_running=2, max_queue=0, memory_bytes=1000)
    async with admission.admit(signal(), 1000):
        assert admission.charged_bytes == 1000
    assert admission.charged_bytes == 0


def test_the_cost_grows_with_the_text_and_the_targets():
    costs = CostModel()
    assert costs.summary(2_000, 1) < costs.summary(6_000, 1) < costs.summary(100_000, 1)
    assert costs.summary(6_000, 3) > costs.summary(6_000, 1)
    assert costs.translation(1_000, 4) > costs.translation(1_000, 1)
    # Within the measured figures (see the module notes): ~350 MB for one 6,000-character chunk.
    assert 300 << 20 < costs.summary(6_000, 1) < 400 << 20


def test_a_requests_model_charge_stops_at_one_batch_where_the_models_size_their_batches():
    batch = 400 << 20
    admission = Admission(memory_bytes=1)
    admission.limit_memory(780 << 20, batch)
    costs = admission.costs
    assert costs.summary(100_000, 1) == costs.summary(20_000, 1) == costs.fixed_bytes + batch
    assert costs.translation(50_000, 4) == costs.fixed_bytes + batch
    assert costs.summary(2_000, 1) == CostModel().summary(2_000, 1)  # below one batch: as before
    # A 100,000-character article now fits a 780 MB pool; without the bound it could never run.
    assert costs.summary(100_000, 1) <= admission.memory.total_bytes < CostModel().summary(100_000, 1)


# -- draining -----------------------------------------------------------------------------------


async def test_draining_refuses_the_queued_requests_at_once_and_every_later_one():
    admission = Admission(max_running=1, max_queue=3)
    release = asyncio.Event()
    order: list[int] = []
    running = asyncio.create_task(hold(admission, release, order, 0))
    queued = [asyncio.create_task(hold(admission, release, order, i)) for i in (1, 2)]
    await settle()
    assert admission.queued == 2
    assert admission.drain() == 2
    for task in queued:
        with pytest.raises(NotReadyError):
            await task
    with pytest.raises(NotReadyError):
        async with admission.admit(signal()):
            raise AssertionError("must not run")
    release.set()
    await running  # what was running finishes
    assert order == [0]
    assert (admission.running, admission.queued) == (0, 0)
    assert admission.metrics["requests_refused_draining"] == 3
