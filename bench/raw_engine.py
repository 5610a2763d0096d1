"""CTranslate2 on its own, with no serving layer: the engine's ceiling on the same model and the same inputs.

A job (a JSON file: the converted model, the thread layout, the runs and their token rows) runs in a child
process, `python -m bench.raw_engine JOB OUT`, that imports ctranslate2 and nothing heavier: importing torch
beside CTranslate2 starts a second OpenMP pool that competes with CTranslate2's, and slows it. The child
records whether torch was imported after all (`torch_imported`), so a report can say so if it ever was.
CTranslate2 reads its backend variables (CT2_USE_MKL, CT2_PACKED_GEMM, CT2_FORCE_CPU_ISA, ...) when it loads
a model, which is why each configuration gets a process of its own: `run_job(job, env=...)`.

A run is a closed loop, like the service's clients: `in_flight` callers, each taking the next `batch_size`
rows and waiting for their result before taking more, so that at most in_flight x batch_size rows are in
the engine at once. With `inter_threads=2` two such batches decode side by side, one core each.

The parent side (`run_job`, `layout_plan`) imports nothing but the standard library.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.models.thread_layout import ThreadLayout

# -- thread layouts --------------------------------------------------------------------------------------


def cpu_layouts(cores: int) -> list[ThreadLayout]:
    """The layouts worth trying on `cores` cores: one batch on all of them, and one batch per core (the
    two ends of service.models.thread_layout's candidates, which the rule chooses between)."""
    cores = max(1, cores)
    layouts = [ThreadLayout(1, cores)]
    if cores > 1:
        layouts.append(ThreadLayout(cores, 1))
    return layouts


def layout_plan(concurrency: int, inter: int) -> tuple[int, int]:
    """(rows per batch, batches in flight) for `concurrency` requests in flight on `inter` replicas.

    The rows the clients have in flight are shared among the replicas: 16 requests on two replicas are two
    batches of 8 side by side. Fewer requests than replicas leave replicas idle, as they would in a server.
    """
    concurrency, inter = max(1, concurrency), max(1, inter)
    batch = math.ceil(concurrency / inter)
    return batch, min(inter, math.ceil(concurrency / batch))


# -- the parent side -----------------------------------------------------------------------------------


class EngineError(RuntimeError):
    """The child failed; the message ends with the tail of its output."""


def run_job(job: dict[str, Any], *, env: dict[str, str] | None = None, timeout_s: float = 3600.0) -> dict:
    """Run `job` in a fresh child process with `env` added to this process's environment; its result.

    The child's stderr is returned as `log` (CTranslate2 writes its backend report there with CT2_VERBOSE=1).
    """
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        child_env = {**os.environ, **(env or {})}
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(root), child_env.get("PYTHONPATH", "")) if p
        )
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bench.raw_engine", str(job_path), str(out_path)],
                env=child_env,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"the engine run passed {timeout_s:.0f} s") from exc
        if done.returncode != 0 or not out_path.is_file():
            tail = (done.stderr or done.stdout or "")[-3000:]
            raise EngineError(f"the engine run failed (exit {done.returncode}):\n{tail}")
        result: dict = json.loads(out_path.read_text(encoding="utf-8"))
    result["log"] = done.stderr
    return result


# -- the child side ------------------------------------------------------------------------------------


def _chunks(rows: Sequence[Any], size: int) -> list[list[int]]:
    """Row indices in consecutive chunks of `size`."""
    return [list(range(i, min(i + size, len(rows)))) for i in range(0, len(rows), max(1, size))]


class _StepCallback:
    """What the service's step callback does per step and row (service.models.batching.RowStops): look up
    the row's job, ask whether it was cancelled, compare the step with its budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.cancelled = threading.Event()
        self.calls = 0

    def __call__(self, step: Any) -> bool:
        self.calls += 1
        if self.cancelled.is_set():
            return True
        return bool(step.step + 1 >= self.budget)


def _decoder(model: Any, kind: str, run: dict[str, Any]) -> Callable[[list[int]], list[int]]:
    """A function from row indices to the tokens each row generated, for the run's options."""
    rows, prefixes, options = run["rows"], run.get("prefixes"), dict(run.get("options", {}))
    if kind == "translator":

        def translate(indices: list[int]) -> list[int]:
            callback = _StepCallback(options.get("max_decoding_length", 256)) if run.get("callback") else None
            results = model.translate_batch(
                [rows[i] for i in indices],
                [prefixes[i] for i in indices] if prefixes else None,
                callback=callback,
                **options,
            )
            return [len(r.hypotheses[0]) for r in results]

        return translate

    static = run.get("static_prompt") or None

    def generate(indices: list[int]) -> list[int]:
        callback = _StepCallback(options.get("max_length", 256)) if run.get("callback") else None
        results = model.generate_batch(
            [rows[i] for i in indices], static_prompt=static, callback=callback, **options
        )
        return [len(r.sequences_ids[0]) for r in results]

    return generate


def _timed_run(
    decode: Callable[[list[int]], list[int]], rows: Sequence[Any], batch: int, in_flight: int
) -> dict:
    """Every row once, `in_flight` callers taking `batch` rows at a time; per-row latency is its batch's."""
    chunks = _chunks(rows, batch)
    latencies: list[float] = [math.nan] * len(rows)
    tokens = [0] * len(rows)
    lock = threading.Lock()
    next_chunk = 0
    errors: list[str] = []

    def worker() -> None:
        nonlocal next_chunk
        while True:
            with lock:
                if next_chunk >= len(chunks) or errors:
                    return
                indices = chunks[next_chunk]
                next_chunk += 1
            t0 = time.perf_counter()
            try:
                counts = decode(indices)
            except Exception as exc:  # reported by the parent; the other callers stop
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            elapsed = time.perf_counter() - t0
            for i, count in zip(indices, counts, strict=True):
                latencies[i], tokens[i] = elapsed, count

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"caller-{i}") for i in range(max(1, in_flight))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(errors[0])
    return {"wall_s": wall, "latencies": latencies, "tokens": sum(tokens), "batches": len(chunks)}


def _load(job: dict[str, Any]) -> Any:
    import ctranslate2

    cls = ctranslate2.Translator if job["kind"] == "translator" else ctranslate2.Generator
    return cls(
        job["model"],
        device=job.get("device", "cpu"),
        device_index=int(job.get("device_index", 0)),
        compute_type=job.get("compute_type", "int8"),
        inter_threads=int(job.get("inter_threads", 1)),
        intra_threads=int(job.get("intra_threads", 0)),
    )


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    import ctranslate2

    t0 = time.perf_counter()
    model = _load(job)
    out: dict[str, Any] = {
        "load_s": time.perf_counter() - t0,
        "ctranslate2": ctranslate2.__version__,
        "runs": [],
    }
    for run in job["runs"]:
        decode = _decoder(model, job["kind"], run)
        batch, in_flight = int(run.get("batch_size", 1)), int(run.get("in_flight", 1))
        warmup = run.get("warmup_rows", min(len(run["rows"]), batch))
        if warmup:
            decode(list(range(warmup)))  # lazy initialisation and first allocations, not timed
        repeats = [
            _timed_run(decode, run["rows"], batch, in_flight) for _ in range(int(run.get("repeats", 1)))
        ]
        median = sorted(repeats, key=lambda r: r["wall_s"])[len(repeats) // 2]
        out["runs"].append(
            {"label": run.get("label", ""), **median, "walls_s": [r["wall_s"] for r in repeats]}
        )
    out["torch_imported"] = "torch" in sys.modules
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.raw_engine JOB.json OUT.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = _execute(job)
    Path(args[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
