"""Measurement primitives: latency statistics, a bounded load generator, the server as a subprocess
(start-up time, health, peak RSS of its process tree), and a description of the machine.

Nothing here knows about models; `bench.scenarios` says what to send.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


# -- statistics --------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Run:
    """One batch of requests sent at a fixed concurrency: per-request latencies and the wall time."""

    label: str
    concurrency: int
    planned: int
    latencies: list[float] = field(default_factory=list)
    tokens: int = 0  # generated tokens over the completed requests
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # not sent: the run's time cap passed first
    batches: list[int] = field(default_factory=list)  # rows per model batch the server ran meanwhile

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.wall_s if self.wall_s > 0 and self.completed else math.nan

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 and self.tokens else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)

    @property
    def mean(self) -> float:
        return sum(self.latencies) / len(self.latencies) if self.latencies else math.nan

    def note(self) -> str:
        """What went wrong, if anything, and how the server batched, in a few words."""
        parts = []
        if self.batches:
            mean = sum(self.batches) / len(self.batches)
            parts.append(
                f"{len(self.batches)} model batches, {mean:.1f} rows on average, {max(self.batches)} at most"
            )
        if self.skipped:
            parts.append(f"{self.skipped} of {self.planned} not sent (time cap)")
        if self.errors:
            parts.append(f"{len(self.errors)} failed: {self.errors[0][:120]}")
        return "; ".join(parts)


def run_load(
    label: str,
    send: Callable[[int], int],
    requests: int,
    concurrency: int,
    *,
    cap_s: float,
    first_index: int = 0,
) -> Run:
    """Send `requests` calls, `concurrency` at a time; `send(i)` returns the tokens it generated.

    Requests not started within `cap_s` seconds are skipped, so a slow machine shortens a run
    instead of stretching the whole benchmark. Failures are counted, not raised.
    """
    run = Run(label, concurrency, requests)
    lock = threading.Lock()
    started = time.perf_counter()
    finished = started

    def one(i: int) -> None:
        nonlocal finished
        if time.perf_counter() - started > cap_s:
            with lock:
                run.skipped += 1
            return
        t0 = time.perf_counter()
        try:
            tokens = send(first_index + i)
        except Exception as exc:  # counted and reported; the run goes on
            with lock:
                run.errors.append(f"{type(exc).__name__}: {exc}")
            return
        t1 = time.perf_counter()
        with lock:
            run.latencies.append(t1 - t0)
            run.tokens += tokens
            finished = max(finished, t1)

    if concurrency <= 1:
        for i in range(requests):
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-client") as pool:
            list(pool.map(one, range(requests)))
    run.wall_s = finished - started
    log.info(
        "%s: %d/%d requests in %.1f s, %.2f req/s, %.1f tokens/s, p50 %.3f s, p95 %.3f s%s",
        label,
        run.completed,
        requests,
        run.wall_s,
        run.requests_per_s,
        run.tokens_per_s,
        run.p50,
        run.p95,
        f" ({run.note()})" if run.note() else "",
    )
    return run


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- memory ------------------------------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    """Resident set size of a process and all its children, in bytes (0 once it is gone)."""
    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


class RssSampler:
    """Samples a process tree's RSS on a background thread while in a `with` block; keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- the server --------------------------------------------------------------------------------------


class ServerError(RuntimeError):
    """The server did not start, or died; the message ends with the tail of its log."""


# The micro-batcher's DEBUG line for each batch it runs.
_BATCH_LINE = re.compile(r"-batcher: batch of (\d+) ")


class ServerProcess:
    """`python -m service ...` on 127.0.0.1 with a free port, as a context manager.

    On exit the server always gets SIGTERM (then SIGKILL if it does not stop within `stop_timeout_s`).
    Its output goes to a log file, whose tail is shown when it fails.
    """

    def __init__(
        self, args: Sequence[str], log_path: Path, *, stop_timeout_s: float = 30.0, offline: bool = True
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.stop_timeout_s = stop_timeout_s
        self.offline = offline  # HF_HUB_OFFLINE=1: models come from the cache only
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.startup_s = math.nan
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-server-")
        self._log_handle: object = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def batch_sizes(self, since: int) -> list[int]:
        """Rows in each model batch the server logged after `since` (it runs at DEBUG for this)."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            text = log.read().decode("utf-8", "replace")
        return [int(n) for n in _BATCH_LINE.findall(text)]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float) -> float:
        """Start the server and wait until its health says SERVING. Returns the seconds that took."""
        from summarizer_client import SummarizerClient

        port_file = Path(self._tmp.name) / "port"
        command = [
            sys.executable,
            "-m",
            "service",
            *self.args,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        if self.offline:
            env["HF_HUB_OFFLINE"] = "1"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.log_path.open("wb")
        self._log_handle = handle
        handle.write(f"$ {' '.join(command)}\n".encode())
        handle.flush()
        started = time.perf_counter()
        # A session of its own: a Ctrl-C in the terminal reaches only the benchmark, which stops the server.
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = started + timeout_s
        while not port_file.exists():
            self._check_alive()
            if time.perf_counter() > deadline:
                raise ServerError(f"no port after {timeout_s:.0f} s{self.log_tail()}")
            time.sleep(0.05)
        self.port = int(port_file.read_text().strip())
        with SummarizerClient(self.target, timeout=30) as client:
            while True:
                self._check_alive()
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise ServerError(f"not SERVING after {timeout_s:.0f} s{self.log_tail()}")
                try:
                    client.wait_ready(min(remaining, 2.0))
                    break
                except Exception:  # not ready within this slice: check that it is alive, then wait on
                    continue
        self.startup_s = time.perf_counter() - started
        return self.startup_s

    def _check_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise ServerError(f"the server exited with code {code}{self.log_tail()}")

    def rss(self) -> int:
        return tree_rss(self.pid) if self.process is not None else 0

    def stop(self) -> int | None:
        """SIGTERM, a grace period, then SIGKILL. Returns the exit code."""
        process = self.process
        if process is None:
            return None
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            return process.returncode
        finally:
            handle = self._log_handle
            if handle is not None:
                handle.close()  # type: ignore[attr-defined]
                self._log_handle = None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = text.strip().splitlines()[-lines:]
        return ("\n  server log (" + str(self.log_path) + "):\n    " + "\n    ".join(tail)) if tail else ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()


# -- the machine -------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_info() -> dict[str, str]:
    versions = {}
    for module in ("torch", "ctranslate2", "transformers", "grpc"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # a missing library is reported, not fatal
            versions[module] = "not installed"
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        **versions,
    }


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the in-process baseline on as many threads as the server gets."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
