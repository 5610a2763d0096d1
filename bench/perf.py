"""Measurement primitives: latency statistics, a bounded load generator, the peak RSS of a process tree,
and a description of the machine.

The server itself is started by `devkit.launcher`. Nothing here knows about models; `bench.scenarios`
says what to send.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devkit.launcher import tree_rss

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
    batch_s: list[float] = field(default_factory=list)  # how long each of those batches ran

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

    @property
    def rows_per_batch(self) -> float:
        return sum(self.batches) / len(self.batches) if self.batches else math.nan

    @property
    def busy(self) -> float:
        """The share of the wall time the model's batches ran (over 1 when batches ran side by side)."""
        return sum(self.batch_s) / self.wall_s if self.batch_s and self.wall_s > 0 else math.nan

    def note(self) -> str:
        """What went wrong, if anything, and how the server batched, in a few words."""
        parts = []
        if self.batches:
            parts.append(
                f"{len(self.batches)} model batches, {self.rows_per_batch:.1f} rows on average, "
                f"{max(self.batches)} at most"
            )
        if self.batch_s:
            parts.append(f"batches running {self.busy:.0%} of the time")
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


def cuda_devices() -> int:
    """CUDA devices CTranslate2 sees (0 without a GPU or without a CUDA build)."""
    try:
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # no library or no driver: no GPU to report
        return 0


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
