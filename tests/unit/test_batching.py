"""The micro-batcher on a fake batch runner: gathering, caps, per-job stops and failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from service import telemetry
from service.errors import DeadlineError, ModelLoadError, RequestCancelledError
from service.models.batch_costs import PromptRate, batch_token_cap, tokens_within, working_set_per_token
from service.models.batching import BatchPolicy, Job, MicroBatcher
from service.models.hf_files import FolderConfig
from service.models.row_stops import RowStops


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
    with pytest.raises(RequestCancelledError):
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


class GroupRecorder(FakeRunner):
    """Also records the groups each batch held, in batch order."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[list[object]] = []

    def __call__(self, jobs: list[Job]) -> None:
        self.groups.append([job.group for job in jobs])
        super().__call__(jobs)


def test_jobs_of_another_group_wait_for_a_batch_of_their_own():
    runner = GroupRecorder()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.05))
    jobs = [Job([i], 4, group="greedy" if i % 2 else "beam") for i in range(6)]
    results = batcher.submit(jobs)
    assert results == [[i] for i in range(6)]
    assert all(len(set(groups)) == 1 for groups in runner.groups)
    # The first job's group runs first; the held group leads the next batch, nothing is lost.
    assert runner.groups == [["beam"] * 3, ["greedy"] * 3]
    batcher.close()


def test_callers_held_for_another_group_count_as_back():
    """Two callers share a batch and come back at once with jobs of different groups: the batch of the first
    does not wait the refill window for the second caller, who is back, held for a batch of its own."""
    runner = GroupRecorder()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.05, max_refill_s=0.5))
    barrier = threading.Barrier(2)

    def caller(group: str) -> float:
        barrier.wait()
        batcher.submit([Job([1], 1, group="first")])
        barrier.wait()
        started = time.monotonic()
        batcher.submit([Job([2], 1, group=group)])
        return time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        waited = list(pool.map(caller, ["a", "b"]))
    assert runner.groups[0] == ["first", "first"]
    assert sorted(map(tuple, runner.groups[1:])) == [("a",), ("b",)]
    assert min(waited) < 0.4, waited
    batcher.close()


def test_held_jobs_keep_their_turn_ahead_of_later_arrivals():
    runner = GroupRecorder()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=2, max_delay_s=0.05))
    jobs = [Job([1], 1, group="a"), Job([2], 1, group="b"), Job([3], 1, group="a"), Job([4], 1, group="b")]
    batcher.submit(jobs)
    assert runner.groups == [["a", "a"], ["b", "b"]]
    batcher.close()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, BatchPolicy()),
        (
            {"max_batch": 4, "max_batch_delay_ms": 20, "max_batch_tokens": 100, "max_batch_refill_ms": 9},
            BatchPolicy(4, 0.02, 100, 0.009),
        ),
        ({"max_batch_balance_ms": 0}, BatchPolicy(max_balance_s=0.0)),
        ({"max_batch_balance_ms": 500}, BatchPolicy(max_balance_s=0.5)),
    ],
)
def test_policy_from_model_options(options, expected):
    assert BatchPolicy.from_options("m", options) == expected


@pytest.mark.parametrize(
    "options",
    [
        {"max_batch": 0},
        {"max_batch_tokens": 0},
        {"max_batch_delay_ms": -1},
        {"max_batch_delay_ms": 5000},
        {"max_batch_refill_ms": 1001},
        {"max_batch_balance_ms": 10001},
        {"max_batch_balance_ms": -1},
        {"max_batch": "x"},
        {"max_batch_prompt_spread": -1},
    ],
)
def test_bad_batching_options_name_the_model(options):
    with pytest.raises(ModelLoadError, match="model 'm'"):
        BatchPolicy.from_options("m", options)


class GatedRunner(FakeRunner):
    """Holds its first batch until `gate` is set; `entered` says that batch has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, jobs: list[Job]) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(10)
        super().__call__(jobs)


@pytest.mark.parametrize(("refill_s", "sizes"), [(2.0, [1, 4]), (0.0, [1, 3, 1])])
def test_a_batch_waits_for_the_last_batchs_callers_to_come_back(refill_s, sizes):
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.0, max_refill_s=refill_s))

    def first_caller() -> None:
        batcher.submit([Job([0], 1)])  # runs alone, and is held until the others wait behind it
        time.sleep(0.3)  # then comes back: past the gathering delay, within the refill window
        batcher.submit([Job([0], 1)])

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(first_caller)
        assert runner.entered.wait(10)
        others = [pool.submit(batcher.submit, [Job([i], 1)]) for i in (1, 2, 3)]
        while batcher._queue.qsize() < 3:
            time.sleep(0.01)
        runner.gate.set()  # the first batch ends with three callers waiting: four are expected next
        first.result()
        for other in others:
            other.result()
    assert runner.sizes == sizes
    batcher.close()


@pytest.mark.parametrize(("refill_s", "second_round"), [(0.25, [6]), (0.0, [1, 1, 1, 1, 1, 1])])
def test_callers_coming_back_one_after_another_each_extend_the_refill_wait(refill_s, second_round):
    """Six callers come back 0.15 s apart (0.75 s in all, past one 0.25 s window): each arrival gives the
    rest another window, so they share one batch; with the refill wait off, each runs alone."""
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=16, max_delay_s=0.0, max_refill_s=refill_s))

    def caller(i: int) -> None:
        batcher.submit([Job([i], 1)])
        time.sleep(0.15 * i)
        batcher.submit([Job([i], 1)])

    with ThreadPoolExecutor(7) as pool:
        blocker = pool.submit(batcher.submit, [Job([9], 1)])  # held, so that the six queue behind it
        assert runner.entered.wait(10)
        callers = [pool.submit(caller, i) for i in range(6)]
        deadline = time.monotonic() + 5
        while batcher._queue.qsize() < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        runner.gate.set()
        blocker.result()
        for each in callers:
            each.result()
    assert runner.sizes[:2] == [1, 6] and runner.sizes[2:] == second_round
    batcher.close()


def test_a_half_full_batch_does_not_wait_for_the_last_batchs_callers():
    """Four callers run while four more queue; once the four are done, the queued four (half of the batch
    size) start at once rather than wait for the four on their way back, who then run while they do."""
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.1, max_refill_s=0.5))
    barrier = threading.Barrier(4)

    def caller(i: int) -> None:
        if i < 4:
            barrier.wait()
        batcher.submit([Job([i], 1)])
        if i < 4:
            time.sleep(0.4)  # back within the refill window
            batcher.submit([Job([i], 1)])

    with ThreadPoolExecutor(8) as pool:
        first = [pool.submit(caller, i) for i in range(4)]
        assert runner.entered.wait(10)
        second = [pool.submit(caller, i) for i in range(4, 8)]
        deadline = time.monotonic() + 5
        while batcher._queue.qsize() < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        runner.gate.set()
        for each in first + second:
            each.result()
    assert runner.sizes == [4, 4, 4]
    batcher.close()


@pytest.mark.parametrize(("pause_s", "second_round"), [(0.5, [2]), (1.2, [1, 1])])
def test_after_a_pause_nobody_is_expected_back(pause_s, second_round):
    """Two callers share a batch and come back `pause_s` later, 0.15 s apart. Within four refill windows of
    the batch's end (its callers may all be checking their answers at once), the first waits for the
    second; after a longer pause nobody is expected, and each runs at once."""
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.1, max_refill_s=0.25))

    def caller(i: int) -> float:
        batcher.submit([Job([i], 1)])
        time.sleep(pause_s + 0.15 * i)
        started = time.monotonic()
        batcher.submit([Job([i], 1)])
        return time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        waited = list(pool.map(caller, range(2)))
    assert runner.sizes == [2, *second_round]
    if len(second_round) == 2:
        assert waited[0] < 0.2  # it did not wait for a caller nobody expected
    batcher.close()


@pytest.mark.parametrize(("fraction", "sizes"), [(0.0, [1, 1, 1]), (0.9, [1, 2])])
def test_after_a_long_batch_the_first_job_waits_a_share_of_its_run_time(fraction, sizes):
    runner = FakeRunner(delay_s=0.6)
    policy = BatchPolicy(max_delay_s=0.0, max_refill_s=1.0, delay_fraction=fraction)
    batcher = MicroBatcher(runner, policy)
    batcher.submit([Job([1], 1)])  # a batch that runs 0.6 s

    def late(i: int) -> None:
        time.sleep(0.1 * i)  # the second caller comes 0.1 s after the first
        batcher.submit([Job([i], 1)])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(late, range(2)))
    assert runner.sizes == sizes  # with a 0.54 s wait the two share a batch
    batcher.close()


# -- callers that leave, deadlines, prompt lengths --------------------------------------------------


class Stop:
    """A stop signal the test flips, with a deadline (time.monotonic()) like the server's."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self.flag = threading.Event()

    def __call__(self) -> bool:
        return self.flag.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)


def test_a_caller_that_leaves_stops_waiting_at_once_and_its_queued_job_never_runs():
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=1, max_delay_s=0.0))
    stop = Stop()
    with ThreadPoolExecutor(2) as pool:
        blocker = pool.submit(batcher.submit, [Job([1], 1)])
        assert runner.entered.wait(10)
        waiting = pool.submit(batcher.submit, [Job([2], 1, should_stop=stop)])
        time.sleep(0.1)
        stop.flag.set()
        started = time.monotonic()
        with pytest.raises(RequestCancelledError):
            waiting.result(timeout=5)
        left_s = time.monotonic() - started
        runner.gate.set()
        blocker.result(timeout=10)
    assert left_s < 3.0  # not held until the batch in front of it ended (it waits for the test's gate)
    assert batcher.submit([Job([3], 1)]) == [[3]]
    assert runner.sizes == [1, 1]  # the abandoned job never reached a batch
    batcher.close()


def test_stopped_jobs_take_no_room_in_a_batch():
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=2, max_delay_s=0.2))
    gone = Stop()
    gone.flag.set()
    with ThreadPoolExecutor(3) as pool:
        blocker = pool.submit(batcher.submit, [Job([0], 1)])
        assert runner.entered.wait(10)
        abandoned = pool.submit(batcher.submit, [Job([1], 1, should_stop=gone)])
        live = pool.submit(batcher.submit, [Job([2], 1), Job([3], 1)])
        while batcher._queue.qsize() < 3:
            time.sleep(0.01)
        runner.gate.set()
        blocker.result(timeout=10)
        with pytest.raises(RequestCancelledError):
            abandoned.result(timeout=10)
        assert live.result(timeout=10) == [[2], [3]]
    assert runner.sizes == [1, 2]  # the two live jobs share a batch; the stopped one took no place
    batcher.close()


def test_a_job_whose_deadline_comes_before_its_prompt_is_read_is_refused_unrun():
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_delay_s=0.0))
    batcher.prompt_rate.note([300], 1.0)  # a 300-token prompt takes 1 s to read
    soon = Stop(deadline=time.monotonic() + 0.5)
    with pytest.raises(DeadlineError):
        batcher.submit([Job([7] * 300, 1, should_stop=soon)])
    later = Stop(deadline=time.monotonic() + 30)
    assert batcher.submit([Job([7] * 300, 1, should_stop=later)]) == [[7]]
    assert runner.sizes == [1] and batcher.refused_late == 1
    batcher.close()


def test_late_jobs_are_refused_earliest_deadline_first_and_the_rest_of_the_batch_runs():
    runner = GatedRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_delay_s=0.0))
    soonest, sooner = Stop(), Stop()
    with ThreadPoolExecutor(4) as pool:
        blocker = pool.submit(batcher.submit, [Job([0], 1)])
        assert runner.entered.wait(10)
        late = pool.submit(batcher.submit, [Job([1] * 300, 1, should_stop=soonest)])
        kept = pool.submit(batcher.submit, [Job([2] * 300, 1, should_stop=sooner)])
        fine = pool.submit(batcher.submit, [Job([3] * 300, 1)])
        while batcher._queue.qsize() < 3:
            time.sleep(0.01)
        batcher.prompt_rate.note([300], 10.0)  # 10 s a prompt: 30 s for the three, 20 s for two
        now = time.monotonic()
        # sooner: late for three, in time for two, with 8 s to spare for a slow machine
        soonest.deadline, sooner.deadline = now + 20.0, now + 28.0
        runner.gate.set()
        blocker.result(timeout=10)
        assert fine.result(timeout=10) == [[3]]
        assert kept.result(timeout=10) == [[2]]
        with pytest.raises(DeadlineError):
            late.result(timeout=10)
    assert runner.sizes == [1, 2] and batcher.refused_late == 1
    batcher.close()


def test_the_prompt_rate_learns_only_from_prompts_long_enough_to_show_it():
    rate = PromptRate()
    rate.note([30], 3.0)  # a short prompt's time is its fixed costs, not a rate
    assert rate.estimate([1_000]) == 0.0
    rate.note([1_000], 1.0)
    rate.note([1_000], 2.0)
    assert 1.0 < rate.estimate([1_000]) < 2.0
    # A longer prompt costs more per token, and the rows of a batch add up.
    assert rate.estimate([2_000]) > 2 * rate.estimate([1_000])
    assert rate.estimate([1_000, 1_000]) == 2 * rate.estimate([1_000])


def test_prompts_of_very_different_lengths_do_not_share_a_batch():
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.05, max_prompt_spread=10))
    jobs = [Job([1] * 100, 1), Job([2] * 105, 1), Job([3] * 10, 1), Job([4] * 110, 1), Job([5] * 12, 1)]
    batcher.submit(jobs)
    assert sorted(runner.sizes) == [2, 3]  # 100, 105 and 110 together; 10 and 12 together
    batcher.close()


def test_row_stops_count_each_rows_own_tokens_past_its_prompt_excess():
    class Step:
        def __init__(self, batch_id: int, step: int) -> None:
            self.batch_id, self.step = batch_id, step

    jobs = [Job([1] * 10, 3), Job([1] * 30, 3)]
    stops = RowStops(jobs, offsets=[0, 20])
    # The longer row writes its first token at step 20: its budget of 3 ends at step 22, not at once.
    assert [stops(Step(1, step)) for step in (20, 21, 22)] == [False, False, True]
    assert [stops(Step(0, step)) for step in (0, 1, 2)] == [False, False, True]


def test_a_row_whose_output_is_finished_ends_with_its_ids_while_the_others_go_on():
    class Step:
        def __init__(self, batch_id: int, step: int, token_id: int) -> None:
            self.batch_id, self.step, self.token_id = batch_id, step, token_id

    seen: list[list[int]] = []

    def finished(ids: list[int]) -> bool:
        seen.append(list(ids))
        return ids[-2:] == [7, 8]  # "done" once it has written 7 then 8

    jobs = [Job([1] * 4, 10, finished=finished), Job([1] * 4, 10)]
    stops = RowStops(jobs)
    assert [stops(Step(0, step, token)) for step, token in enumerate([5, 7, 8])] == [False, False, True]
    assert [stops(Step(1, step, 9)) for step in range(3)] == [False, False, False]  # its budget is 10
    assert seen == [[5], [5, 7], [5, 7, 8]]  # the ids it wrote so far, step by step
    stops.resolve([[5, 7, 8], [9, 9, 9]])
    assert jobs[0].future.result() == [5, 7, 8] and jobs[1].future.result() == [9, 9, 9]


def test_a_finished_row_counts_its_ids_from_its_first_written_token():
    class Step:
        def __init__(self, batch_id: int, step: int, token_id: int) -> None:
            self.batch_id, self.step, self.token_id = batch_id, step, token_id

    seen: list[list[int]] = []
    jobs = [Job([1] * 10, 5), Job([1] * 12, 5, finished=lambda ids: seen.append(list(ids)) or False)]
    stops = RowStops(jobs, offsets=[0, 2])
    for step, token in enumerate([101, 102, 3, 4]):  # the first two steps read the rest of its prompt
        stops(Step(1, step, token))
    assert seen == [[3], [3, 4]]


def test_policy_from_options_takes_the_runtimes_defaults():
    policy = BatchPolicy.from_options("m", {}, max_tokens=4_000, prompt_spread=64)
    assert policy.max_tokens == 4_000 and policy.max_prompt_spread == 64
    # The spec's own options win over the runtime's defaults.
    policy = BatchPolicy.from_options(
        "m", {"max_batch_tokens": 900, "max_batch_prompt_spread": 8}, max_tokens=4_000
    )
    assert policy.max_tokens == 900 and policy.max_prompt_spread == 8


def test_tokens_within_a_memory_budget():
    mb = 1 << 20
    assert tokens_within(600 * mb, 224 * 1024, 1_664) == 2_742
    assert tokens_within(100 * mb, 224 * 1024, 1_664) == 1_664  # never less than one full prompt
    assert tokens_within(100_000 * mb, 224 * 1024, 1_664) == BatchPolicy.max_tokens


SMOLLM2_135M = FolderConfig(
    {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "intermediate_size": 1536}
)
QWEN25_15B = FolderConfig(
    {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "intermediate_size": 8960}
)
BART_LARGE = FolderConfig(
    {"d_model": 1024, "decoder_layers": 12, "decoder_attention_heads": 16, "decoder_ffn_dim": 4096}
)


@pytest.mark.parametrize(
    ("config", "tokens", "measured_mb"),
    [(SMOLLM2_135M, 1_536, 337), (QWEN25_15B, 1_536, 766), (QWEN25_15B, 768, 411)],
)
def test_the_working_set_estimate_is_near_the_measured_peaks(config, tokens, measured_mb):
    """Peak RSS over the loaded model for one prompt, CTranslate2 int8 on the CPU (see the docstring)."""
    estimate_mb = working_set_per_token(config, tokens) * tokens / 2**20
    assert 0.8 * measured_mb < estimate_mb < 1.25 * measured_mb


def test_batch_token_caps_follow_the_memory_for_one_batch():
    mb = 1 << 20
    assert batch_token_cap(None, SMOLLM2_135M, 1_664) is None  # no budget: the batching default
    tiny = batch_token_cap(400 * mb, SMOLLM2_135M, 1_664)
    assert tiny is not None and 1_664 <= tiny < 2_000  # one full chunk prompt at a time on 400 MB
    assert batch_token_cap(4_000 * mb, QWEN25_15B, 3_200) == 6_781  # two full 3,200-token prompts
    one, two = batch_token_cap(1_000 * mb, BART_LARGE, 1_024), batch_token_cap(2_000 * mb, BART_LARGE, 1_024)
    assert (
        one is not None and two is not None and abs(two - 2 * one) <= 1
    )  # twice the memory, twice the tokens
    # A config without the dimensions gets a conservative figure, never no cap.
    assert batch_token_cap(512 * mb, FolderConfig({}), 100) == 1_024


class BatchLog(telemetry.NullObserver):
    """A fake observer: the batches and token counts reported to it."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int, int, int]] = []
        self.tokens_seen: list[tuple[str, int, int]] = []

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        self.batches.append((model, rows, input_tokens, output_tokens))

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        self.tokens_seen.append((model, input_tokens, output_tokens))


def test_each_batch_and_each_callers_tokens_reach_the_callers_observer():
    runner = FakeRunner()
    batcher = MicroBatcher(runner, BatchPolicy(max_batch=8, max_delay_s=0.2), name="m-batcher", model="m")
    observer = BatchLog()
    barrier = threading.Barrier(2)

    def submit(prompt: list[int]) -> list[list[int]]:
        with telemetry.observing(observer):  # as the runner does on its worker threads
            barrier.wait()
            return batcher.submit([Job(prompt, 2), Job(prompt, 2)])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(submit, ([1, 2, 3], [4, 5, 6, 7])))
    batcher.close()
    # One batch of four rows: 3 + 3 + 4 + 4 prompt tokens, 2 generated each.
    assert observer.batches == [("m", 4, 14, 8)]
    assert sorted(observer.tokens_seen) == [("m", 6, 4), ("m", 8, 4)]


def test_a_failing_batch_is_reported_with_no_generated_tokens():
    batcher = MicroBatcher(FakeRunner(fail=True), BatchPolicy(max_delay_s=0.01), model="m")
    observer = BatchLog()
    with telemetry.observing(observer), pytest.raises(RuntimeError):
        batcher.submit([Job([1, 2], 4)])
    assert observer.batches == [("m", 1, 2, 0)] and observer.tokens_seen == []
    batcher.close()


class BrokenObserver(telemetry.NullObserver):
    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        raise RuntimeError("fake observer failure")


def test_an_observer_that_fails_does_not_stop_the_batcher():
    batcher = MicroBatcher(FakeRunner(), BatchPolicy(max_delay_s=0.01), model="m")
    with telemetry.observing(BrokenObserver()):
        assert batcher.submit([Job([1, 2], 4)]) == [[2, 1]]
        assert batcher.submit([Job([3], 4)]) == [[3]]  # the batching thread is still there
    batcher.close()


# -- several engines side by side ----------------------------------------------------------------------


class FakeEngines:
    """A batch runner for a runtime with several engines: echoes each prompt reversed, records how many
    batches ran at once, and holds each batch until a second one has started (or a timeout passes), so
    that batches that could run side by side do."""

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.sizes: list[int] = []
        self._lock = threading.Lock()
        self._two_started = threading.Event()

    def __call__(self, jobs: list[Job]) -> None:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.sizes.append(len(jobs))
            if self.running >= 2:
                self._two_started.set()
        self._two_started.wait(timeout=1.0)
        time.sleep(0.01)
        for job in jobs:
            job.future.set_result(list(reversed(job.prompt))[: job.max_new_tokens])
        with self._lock:
            self.running -= 1


def test_a_batch_gathered_while_engines_are_free_is_split_between_them():
    engines = FakeEngines()
    batcher = MicroBatcher(engines, BatchPolicy(max_batch=16, max_delay_s=0.05), engines=2)
    jobs = [Job([i] * (1 + i % 5) + [i + 100], 8) for i in range(16)]
    outputs = batcher.submit(jobs)
    # The same outputs as one job at a time, in the callers' order.
    assert outputs == [list(reversed(job.prompt))[:8] for job in jobs]
    assert engines.most_at_once == 2
    assert sum(engines.sizes) == 16 and max(engines.sizes) == 8
    batcher.close()


def test_concurrent_callers_keep_every_engine_busy_and_get_their_own_outputs():
    engines = FakeEngines()
    batcher = MicroBatcher(engines, BatchPolicy(max_batch=4, max_delay_s=0.02), engines=3)
    barrier = threading.Barrier(12)

    def submit(i: int) -> list[list[int]]:
        barrier.wait()
        return batcher.submit([Job([i, i + 1], 4), Job([i] * 3, 4)])

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(submit, range(12)))
    assert results == [[[i + 1, i], [i] * 3] for i in range(12)]
    assert engines.most_at_once >= 2 and engines.most_at_once <= 3
    assert sum(engines.sizes) == 24 and max(engines.sizes) <= 4
    batcher.close()


def test_one_engine_runs_one_batch_at_a_time():
    engines = FakeEngines()
    batcher = MicroBatcher(engines, BatchPolicy(max_batch=4, max_delay_s=0.01))
    batcher.submit([Job([i], 2) for i in range(10)])
    assert engines.most_at_once == 1
    batcher.close()


def test_a_failing_batch_on_one_engine_reaches_only_its_callers():
    calls: list[int] = []

    def run(jobs: list[Job]) -> None:
        calls.append(len(jobs))
        for job in jobs:
            if job.prompt[0] < 0:
                raise RuntimeError("fake engine failure")
            job.future.set_result(job.prompt)

    batcher = MicroBatcher(run, BatchPolicy(max_batch=8, max_delay_s=0.01), engines=2)
    with pytest.raises(RuntimeError, match="fake engine failure"):
        batcher.submit([Job([-1], 2)])
    assert batcher.submit([Job([5], 2)]) == [[5]]
    batcher.close()


def test_jobs_queued_while_every_engine_is_busy_join_the_next_batch():
    """Two engines held by blocking batches while six callers arrive one by one, each after the gathering
    delay: once an engine is free, the first caller runs in a batch with those who queued behind it, not
    alone followed by the rest. (The engines come back one at a time, so the rest may run as one batch or
    split between the two engines.)"""
    release = threading.Event()
    batches: list[list[int]] = []

    def run(jobs: list[Job]) -> None:
        if jobs[0].prompt == [0]:
            release.wait(timeout=5.0)
        else:
            batches.append([job.prompt[0] for job in jobs])
        for job in jobs:
            job.future.set_result(job.prompt)

    batcher = MicroBatcher(run, BatchPolicy(max_batch=4, max_delay_s=0.001, max_refill_s=0.0), engines=2)
    with ThreadPoolExecutor(8) as pool:
        blockers = [pool.submit(batcher.submit, [Job([0], 1)]) for _ in range(2)]
        deadline = time.monotonic() + 5.0
        while batcher._free_engines and time.monotonic() < deadline:  # both engines taken
            time.sleep(0.005)
        waiting = []
        for i in range(1, 7):
            waiting.append(pool.submit(batcher.submit, [Job([i], 1)]))
            time.sleep(0.02)
        while batcher._queue.qsize() < 5 and time.monotonic() < deadline:  # the worker holds the first
            time.sleep(0.005)
        release.set()
        assert [f.result(timeout=5.0) for f in waiting] == [[[i]] for i in range(1, 7)]
        assert [f.result(timeout=5.0) for f in blockers] == [[[0]], [[0]]]
    assert sorted(i for batch in batches for i in batch) == [1, 2, 3, 4, 5, 6], batches
    assert all(len(batch) <= 4 for batch in batches), batches
    assert len(next(batch for batch in batches if 1 in batch)) >= 2, batches
    batcher.close()


def test_the_after_batch_hook_runs_once_per_batch_and_a_failing_one_stops_nothing():
    ran: list[int] = []

    def hook() -> None:
        ran.append(1)
        if len(ran) == 1:
            raise RuntimeError("fake hook failure")

    batcher = MicroBatcher(FakeRunner(), BatchPolicy(max_delay_s=0.01), after_batch=hook)
    assert batcher.submit([Job([1, 2], 4)]) == [[2, 1]]
    assert batcher.submit([Job([3], 4)]) == [[3]]  # the batching thread survived the failing hook
    deadline = time.monotonic() + 5.0
    while len(ran) < 2 and time.monotonic() < deadline:  # the hook runs after the callers are answered
        time.sleep(0.005)
    assert len(ran) == 2
    batcher.close()


@pytest.mark.parametrize(("balance_s", "merged"), [(2.0, True), (0.0, False)])
def test_a_small_batch_waits_for_a_much_larger_one_on_another_engine_and_merges_with_it(balance_s, merged):
    """Engine 1 runs a batch of 12 while engine 2 is free; three callers arrive. With the balance wait they
    wait for the 12 to end and share a batch with their next requests (split evenly between the engines);
    without it they run as a batch of three of their own."""
    release_blocker, release_big = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def run(jobs: list[Job]) -> None:
        batches.append(sorted(job.prompt[0] for job in jobs))
        if jobs[0].prompt[0] == 0:
            assert release_blocker.wait(5)
        if any(100 <= job.prompt[0] < 200 for job in jobs):
            assert release_big.wait(5)
        for job in jobs:
            job.future.set_result(job.prompt)

    policy = BatchPolicy(max_batch=16, max_delay_s=0.05, max_refill_s=0.25, max_balance_s=balance_s)
    batcher = MicroBatcher(run, policy, engines=2)

    def big_caller(i: int) -> list[list[list[int]]]:
        first = batcher.submit([Job([100 + i], 1)])
        return [first, batcher.submit([Job([200 + i], 1)])]  # back at once: a closed loop

    def wait_until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert condition()

    with ThreadPoolExecutor(16) as pool:
        blocker = pool.submit(batcher.submit, [Job([0], 1)])
        wait_until(lambda: batches == [[0]])  # engine 2 taken
        bigs = [pool.submit(big_caller, i) for i in range(12)]
        wait_until(lambda: len(batches) == 2)  # the twelve, on engine 1
        release_blocker.set()
        blocker.result()
        wait_until(lambda: batcher._free_engines == 1)
        small = [pool.submit(batcher.submit, [Job([i], 1)]) for i in (1, 2, 3)]
        wait_until(lambda: batcher.balance_waits == 1 or any(1 in batch for batch in batches))
        release_big.set()
        assert [f.result(5) for f in small] == [[[1]], [[2]], [[3]]]
        assert [f.result(5) for f in bigs] == [[[[100 + i]], [[200 + i]]] for i in range(12)]
    assert batches[1] == list(range(100, 112))
    with_small = [batch for batch in batches if 1 in batch or 2 in batch or 3 in batch]
    if merged:
        assert all(len(batch) >= 7 for batch in with_small) and sum(map(len, batches[2:])) == 15, batches
    else:
        assert [1, 2, 3] in with_small, batches
    batcher.close()
