"""The real service (tiny profile) against hostile clients, a crowded machine and a hard shutdown.

Each test starts `python -m service` on 127.0.0.1 and measures it from outside, as an operator would:
- a client that never reads its stream loses its running slot after the send timeout;
- concurrent large requests stay within the memory budget (peak RSS read with psutil);
- once the callers' deadlines pass, the server stops computing for them (its CPU time, read with psutil);
- short summaries beside a busy neighbour (a process spinning on one core) stay within twice the quiet
  latency, measured in the same test;
- a port already in use stops the start with one line;
- at SIGTERM, queued calls are refused at once with UNAVAILABLE, running ones finish, and the log
  has no ERROR line;
- the process exits within the grace period (+2 s) even when it abandons work that does not stop.

New settings are passed as SUMMARIZER_* variables, which an older server ignores: the same tests run
against an older tree give its "before" figures. The figures are printed (`pytest -s`).
The machine these run on may be crowded: every timing is either relative to a figure measured in the
same test or a bound far from the failure it guards against.
"""

from __future__ import annotations

import itertools
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import h2.events
import psutil
import pytest

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from summarizer_client.errors import from_rpc_error
from tests.integration.conftest import ROOT, ServerProcess
from tests.integration.stalled_reader import StalledReader
from tests.integration.test_process import wait_serving
from tests.observing import free_port, scrape

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.slow]

SEEDS = ROOT / "seeds"
ENGLISH = (
    (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")
    + "\n\n"
    + (SEEDS / "en_002_wind_farm_approval.txt").read_text(encoding="utf-8")
)
STREAM = "/summarizer.v1.SummarizerService/StreamSummarize"
_serial = itertools.count()


def fresh(chars: int) -> str:
    """An English article of `chars` characters that no earlier call sent (the result cache stays out)."""
    parts: list[str] = []
    while sum(len(p) + 2 for p in parts) < chars:
        parts.append(f"Dispatch {next(_serial)} from the newsroom. {ENGLISH}")
    return "\n\n".join(parts)[:chars].rsplit(" ", 1)[0] + "."


def short_request() -> pb.SummarizeRequest:
    text = fresh(400)
    return pb.SummarizeRequest(
        text=text,
        source_language="en",
        options=pb.SummaryOptions(length=pb.LENGTH_PRESET_SHORT),
    )


def figure(name: str, **values: object) -> None:
    print(f"\n[figure] {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)


def start(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[ServerProcess, str]:
    server = ServerProcess(tmp, "--profile", "tiny", *args, env=env)
    try:
        target = server.wait_port(timeout_s=120)
        wait_serving(target, timeout=600)
    except BaseException:
        server.kill()
        raise
    return server, target


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if " ERROR " in line or line.startswith("ERROR")]


class Call(threading.Thread):
    """One unary call on its own thread: its status code and when it ended."""

    def __init__(self, target: str, request: pb.SummarizeRequest, timeout: float) -> None:
        super().__init__(daemon=True)
        self.target, self.request, self.timeout = target, request, timeout
        self.code: grpc.StatusCode | None = None
        self.ended = 0.0

    def run(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            try:
                pb_grpc.SummarizerServiceStub(channel).Summarize(self.request, timeout=self.timeout)
                self.code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                self.code = exc.code()
        self.ended = time.monotonic()


# -- a client that never reads -----------------------------------------------------------------------


def test_a_stalled_reader_loses_its_running_slot_after_the_send_timeout(tmp_path):
    server, target = start(
        tmp_path, "--max-concurrent-requests", "1", env={"SUMMARIZER_STREAM_SEND_TIMEOUT_S": "3"}
    )
    try:
        request = pb.StreamSummarizeRequest(text=fresh(600), source_language="en", target_languages=["en"])
        stalled = StalledReader(target, STREAM, request.SerializeToString())
        try:
            # The response headers go out with the first message the server tries to send: from then
            # on the stream holds the server's only running slot and cannot send a byte.
            deadline = time.monotonic() + 120
            while not stalled.seen(h2.events.ResponseReceived):
                assert time.monotonic() < deadline, "the stalled stream never started"
                time.sleep(0.05)
            started = time.monotonic()
            call = Call(target, short_request(), timeout=60)
            call.run()
            waited = time.monotonic() - started
        finally:
            stalled.close()
        figure(
            "stalled reader, 1 slot",
            next_call=call.code.name if call.code else None,
            waited_s=round(waited, 1),
        )
        assert call.code == grpc.StatusCode.OK, f"the next caller got {call.code} after {waited:.1f} s"
        assert waited < 45, waited  # the stalled stream let go after ~3 s, not at the caller's deadline
        assert "took no message for 3.0 s" in server.output()
    finally:
        assert server.terminate(timeout_s=60) == 0, server.output()


# -- memory under concurrent large requests ------------------------------------------------------


class PeakRss(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)


def summarize_retrying(target: str, request: pb.SummarizeRequest, until: float) -> tuple[str, int]:
    """Summarize, retrying RESOURCE_EXHAUSTED with RetryInfo after the pause it asks for; (final code, tries).
    A refusal without RetryInfo (REQUEST_TOO_LARGE) is final."""
    tries = 0
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        while True:
            tries += 1
            try:
                stub.Summarize(request, timeout=max(1.0, until - time.monotonic()))
                return "OK", tries
            except grpc.RpcError as exc:
                retry_after = from_rpc_error(exc).retry_after
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or retry_after is None:
                    return exc.code().name, tries
                if time.monotonic() > until:
                    return exc.code().name, tries
                time.sleep(min(max(retry_after, 0.2), 5.0))


CONCURRENT = 8
MIXED = 4  # the long article and three large ones: still more than one batch's worth waiting for memory
TEXT_CAP_CHARS = 100_000  # the server's default --max-text-chars
# Eight articles at the text cap take the tiny model tens of minutes (one chunk prompt at a time under this
# budget), so they run until this deadline: long enough for the first ones to reach the model.
TEXT_CAP_DEADLINE_S = 90.0
LARGE_CHARS = 5_500  # one prompt of ~1,300 tokens each: ~300 MB of model working set per request in flight
LONG_CHARS = 30_000  # five such chunks: one request's batch of them alone used to pass 1.5 GB
MEMORY_BUDGET_MB = 1_200
RSS_LIMIT = 1.5 * 2**30


def summarize_all(target: str, texts: list[str], until: float) -> tuple[list[tuple[str, int]], float]:
    """Each text summarized on its own thread, all at once (retrying as `summarize_retrying`); the outcomes
    and the seconds until the last ended."""
    outcomes: list[tuple[str, int]] = []
    # Short summaries: what the memory budget governs is the prompts read at once, not the words written.
    short = pb.SummaryOptions(length=pb.LENGTH_PRESET_SHORT)
    requests = [pb.SummarizeRequest(text=text, source_language="en", options=short) for text in texts]
    threads = [
        threading.Thread(target=lambda r=r: outcomes.append(summarize_retrying(target, r, until)))
        for r in requests
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes, time.monotonic() - started


def input_tokens(metrics_port: int) -> float | None:
    """Prompt tokens the server's models have read, from its /metrics (None when it has no such page)."""
    try:
        return sum(
            v for (name, _), v in scrape(metrics_port).items() if name == "summarizer_input_tokens_total"
        )
    except OSError:
        return None


@pytest.mark.timeout(1500)  # minutes of model work on a shared two-core machine
def test_concurrent_large_requests_stay_within_the_memory_budget(tmp_path):
    """Memory follows the budget, not the requests' sizes: a model batch takes at most a third of the
    budget, and a request is charged at most one batch, so articles at the text cap are admitted and run
    (one at a time under this budget, the others waiting in the queue) without passing 1.5 GB.

    Then 1 x 30,000 and 3 x 5,500 characters at once, under the same budget: every call ends OK (a refusal
    with RetryInfo is retried after the pause it asks for)."""
    metrics_port = free_port()
    server, target = start(
        tmp_path,
        env={
            "SUMMARIZER_MEMORY_BUDGET_MB": str(MEMORY_BUDGET_MB),
            "SUMMARIZER_METRICS_PORT": str(metrics_port),
        },
    )
    try:
        sampler = PeakRss(server.process.pid)
        loaded = sampler.peak
        sampler.start()
        before = input_tokens(metrics_port)
        capped, capped_s = summarize_all(
            target, [fresh(TEXT_CAP_CHARS) for _ in range(CONCURRENT)], time.monotonic() + TEXT_CAP_DEADLINE_S
        )
        capped_peak = sampler.peak
        read = input_tokens(metrics_port)
        sizes = [LONG_CHARS] + [LARGE_CHARS] * (MIXED - 1)
        outcomes, wall_s = summarize_all(target, [fresh(size) for size in sizes], time.monotonic() + 1500)
        sampler.done.set()
        figure(
            f"{CONCURRENT} x {TEXT_CAP_CHARS} chars, {TEXT_CAP_DEADLINE_S:.0f} s, {MEMORY_BUDGET_MB} MB",
            loaded_mb=loaded >> 20,
            peak_mb=capped_peak >> 20,
            wall_s=round(capped_s, 1),
            prompt_tokens_read=None if read is None or before is None else int(read - before),
            outcomes=sorted(capped),
        )
        figure(
            f"1 x {LONG_CHARS} + {MIXED - 1} x {LARGE_CHARS} chars, budget {MEMORY_BUDGET_MB} MB",
            peak_mb=sampler.peak >> 20,
            wall_s=round(wall_s, 1),
            outcomes=sorted(outcomes),
        )
        # Every call at the text cap is answered: it ran, or waited for memory, until its deadline; none
        # is refused for its size (REQUEST_TOO_LARGE) or fails.
        assert {code for code, _ in capped} <= {"OK", "DEADLINE_EXCEEDED"}, capped
        # ... and the model read their chunks (a full chunk prompt is over 1,500 tokens) within the budget.
        assert read is not None and before is not None and read - before >= 1_500, (before, read)
        assert capped_peak < RSS_LIMIT, f"peak RSS {capped_peak >> 20} MB at the text cap"
        assert [code for code, _ in outcomes] == ["OK"] * MIXED
        assert sampler.peak < RSS_LIMIT, f"peak RSS {sampler.peak >> 20} MB"
    finally:
        assert server.terminate(timeout_s=120) == 0, server.output()


# -- work for callers that are gone ----------------------------------------------------------------------

SHORT_DEADLINE_S = 20.0
IDLE_WINDOW_S = 2.0


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def cpu_until_idle(process: psutil.Process, limit_s: float = 600) -> tuple[float, float]:
    """CPU seconds the process spends from now until it idles (under 0.05 s of CPU in IDLE_WINDOW_S), and
    how long that took."""
    start = time.monotonic()
    samples = [(start, cpu_seconds(process))]
    while True:
        time.sleep(0.25)
        now, used = time.monotonic(), cpu_seconds(process)
        samples.append((now, used))
        window = [sample for sample in samples if sample[0] <= now - IDLE_WINDOW_S]
        if window and used - window[-1][1] < 0.05:
            return window[-1][1] - samples[0][1], window[-1][0] - start
        if now - start > limit_s:
            return used - samples[0][1], now - start


def test_work_stops_when_the_callers_deadlines_pass(tmp_path):
    """Eight articles at the text cap with short deadlines: after the last deadline the server's CPU
    time grows by well under a second, where it used to split, chunk and prefill on for minutes.

    The budget is large, as on a big machine, so that all eight run at once rather than queue."""
    server, target = start(tmp_path, env={"SUMMARIZER_MEMORY_BUDGET_MB": "64000"})
    try:
        process = psutil.Process(server.process.pid)
        calls = [
            Call(target, pb.SummarizeRequest(text=fresh(100_000), source_language="en"), SHORT_DEADLINE_S)
            for _ in range(CONCURRENT)
        ]
        before = cpu_seconds(process)
        for call in calls:
            call.start()
        for call in calls:
            call.join(timeout=SHORT_DEADLINE_S + 60)
        at_deadline = cpu_seconds(process)
        after_s, busy_s = cpu_until_idle(process)
        figure(
            f"{CONCURRENT} x 100,000 chars, {SHORT_DEADLINE_S:.0f} s deadlines",
            cpu_before_deadline_s=round(at_deadline - before, 2),
            cpu_after_deadline_s=round(after_s, 2),
            busy_after_s=round(busy_s, 1),
            codes=sorted(c.code.name if c.code else "?" for c in calls),
        )
        assert all(call.code == grpc.StatusCode.DEADLINE_EXCEEDED for call in calls)
        # Target under 1 s; the bound leaves room for a crowded machine, far from the 20+ s it was.
        assert after_s < 3.0, f"{after_s:.1f} s of CPU after the last deadline"
    finally:
        assert server.terminate(timeout_s=120) == 0, server.output()


# -- a busy neighbour --------------------------------------------------------------------------------

SPINNER = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end:\n    pass\n"


def latencies(target: str, count: int) -> list[float]:
    out = []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        for _ in range(count):
            started = time.monotonic()
            stub.Summarize(short_request(), timeout=300)
            out.append(time.monotonic() - started)
    return out


def test_short_summaries_beside_a_busy_neighbour_stay_within_twice_the_quiet_latency(tmp_path):
    """Quiet and busy rounds alternate, so that a change in the machine's own load hits both sides.

    The neighbour is one process that spins on one core: the situation of a pod whose node has another busy
    tenant. One spinner per core would leave the server a fair share of half the machine, and so twice the
    quiet latency before any waiting policy is in play: that case is measured by
    `python -m bench.neighbour`, not asserted here.
    """
    server, target = start(tmp_path)
    try:
        latencies(target, 2)  # the first calls after warm-up are not typical
        quiet: list[float] = []
        busy: list[float] = []
        for _ in range(4):
            quiet += latencies(target, 2)
            spinner = subprocess.Popen([sys.executable, "-c", SPINNER])
            try:
                time.sleep(0.5)
                busy += latencies(target, 2)
            finally:
                spinner.kill()
                spinner.wait()
        quiet_s, busy_s = statistics.median(quiet), statistics.median(busy)
        figure(
            "short summaries, median (all)",
            quiet_s=round(quiet_s, 2),
            busy_s=round(busy_s, 2),
            quiet=[round(x, 2) for x in quiet],
            busy=[round(x, 2) for x in busy],
        )
        assert busy_s <= 2 * quiet_s, (quiet, busy)
        assert max(busy) <= 4 * max(quiet), (quiet, busy)  # no call stuck behind spinning threads
    finally:
        assert server.terminate(timeout_s=60) == 0, server.output()


# -- start-up ------------------------------------------------------------------------------------------


def test_a_port_in_use_stops_the_start_with_one_line_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(tmp_path, "--profile", "tiny", "--port", str(port))
        try:
            code = server.process.wait(timeout=120)
        finally:
            server.kill()
    output = server.output()
    figure("port in use", exit_code=code, lines=len(output.splitlines()))
    assert code == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("summarizer-service:")]
    assert len(errors) == 1 and str(port) in errors[0] and "in use" in errors[0], output
    assert not [line for line in output.splitlines() if "Failed to" in line], output


# -- shutdown ------------------------------------------------------------------------------------------

DRAIN_GRACE_S = 30


@pytest.fixture(scope="module")
def drain_with_queued_calls(tmp_path_factory):
    """One running slot, four callers, then SIGTERM: what each caller got, and the server's log."""
    server, target = start(
        tmp_path_factory.mktemp("drain"),
        "--max-concurrent-requests",
        "1",
        "--grace-s",
        str(DRAIN_GRACE_S),
    )
    try:
        calls = []
        for _ in range(4):
            request = pb.SummarizeRequest(text=fresh(2_000), source_language="en")
            calls.append(Call(target, request, timeout=300))
            calls[-1].start()
            time.sleep(0.3)
        time.sleep(1.0)
        terminated = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        for call in calls:
            call.join(timeout=DRAIN_GRACE_S + 60)
        code = server.process.wait(timeout=DRAIN_GRACE_S + 60)
        exited = time.monotonic() - terminated
    finally:
        server.kill()
    answers = [(c.code.name if c.code else None, round(c.ended - terminated, 2)) for c in calls]
    figure("drain with queued calls", answers=answers, exit_code=code, exit_s=round(exited, 1))
    return answers, code, server.output()


def test_queued_calls_are_refused_at_once_at_sigterm_and_running_ones_finish(drain_with_queued_calls):
    answers, code, output = drain_with_queued_calls
    assert code == 0, output
    refused = [after for name, after in answers if name == "UNAVAILABLE"]
    finished = [name for name, _ in answers if name == "OK"]
    assert refused and finished, answers  # one ran, the ones behind it were queued
    assert all(name in ("OK", "UNAVAILABLE") for name, _ in answers), answers
    assert max(refused) < 5, answers  # not at the end of the 30 s grace period


def test_a_drain_with_queued_calls_logs_no_error(drain_with_queued_calls):
    _, _, output = drain_with_queued_calls
    assert error_lines(output) == [], output
    assert "Traceback" not in output


def test_sigterm_exits_within_the_grace_period_whatever_work_is_abandoned(tmp_path):
    grace = 3.0
    server, target = start(tmp_path, "--grace-s", str(grace))
    try:
        # ~20,000 characters: a map-reduce whose first batch runs for many seconds without a stop check.
        calls = [
            Call(target, pb.SummarizeRequest(text=fresh(20_000), source_language="en"), timeout=600)
            for _ in range(2)
        ]
        for call in calls:
            call.start()
        time.sleep(5.0)
        terminated = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            code = None
        exited = time.monotonic() - terminated
        for call in calls:
            call.join(timeout=30)
    finally:
        server.kill()
    output = server.output()
    figure(
        "exit after abandoned work",
        grace_s=grace,
        exit_s=round(exited, 1),
        exit_code=code,
        calls=[c.code.name if c.code else None for c in calls],
    )
    assert code == 0, output
    assert exited < grace + 2.0, f"exited {exited:.1f} s after SIGTERM with a {grace:.0f} s grace period"
    assert error_lines(output) == [], output
