"""The machine's bounds, measured, and where each model path stands against them.

Bounds (each probe in a child process of its own, on every core):

- fp32 GEMM: numpy's matmul (OpenBLAS) and torch's (oneDNN/MKL), at shapes the models multiply;
- int8 GEMM: `torch._int_mm` (oneDNN's s8s8 kernel) at the same shapes; CTranslate2 does not expose its
  own GEMM, so this is the machine's int8 rate as a library reaches it, not CTranslate2's;
- memory read bandwidth: a float32 matrix-vector product (one pass over the matrix, vectorised) over
  working sets from 16 MiB to 1 GiB, so that the cache sizes show.

Paths (raw CTranslate2 in a child that never imports torch, one batch on every core): decoding steps
per second from the difference of two forced output lengths (so that reading the input drops out),
prompt reading from a one-token generation. Each step's bytes and multiply-adds come from the model's
own file (`bench.ct2_model`). A step is bound by max(bytes / bandwidth, FLOPs / GEMM rate); the position
is the measured rate over that bound.

    python -m bench.roofline --probe numpy     # one probe's JSON on stdout (what the section runs)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

# (M, K, N): a Marian decoding step at 16 rows (FFN), an LLM prompt of 512 tokens (FFN), a square one.
GEMM_SHAPES: tuple[tuple[int, int, int], ...] = ((16, 512, 2048), (512, 1536, 8960), (2048, 2048, 2048))
BANDWIDTH_MIB: tuple[int, ...] = (16, 64, 256, 1024)
_PROBE_S = 0.4  # each shape's calls for this long, a few rounds, median
_ROUNDS = 5

# -- arithmetic ----------------------------------------------------------------------------------------


def gemm_ops(m: int, k: int, n: int) -> int:
    """Multiply-adds of an (m x k) by (k x n) product, counted as two operations each."""
    return 2 * m * k * n


def bandwidth_at(curve: dict[int, float], nbytes: float) -> float:
    """Read bandwidth for a working set of `nbytes`: the figure measured at the smallest probed size that
    holds it (the largest probe past them all). `curve` maps probe bytes to bytes/s."""
    if not curve:
        return math.nan
    sizes = sorted(curve)
    fits = [size for size in sizes if size >= nbytes]
    return curve[fits[0] if fits else sizes[-1]]


@dataclass(frozen=True)
class Position:
    """One path's measured rate against the machine's bounds, per unit (a decoding step, a prompt token)."""

    path: str
    units_per_s: float  # decoding steps (or prompt tokens) per second, measured
    rows: int  # sequences per step (1 for prompt reading)
    bytes_per_unit: float  # weight bytes read per unit
    ops_per_unit: float  # operations per unit (2 x multiply-adds)
    bandwidth: float  # bytes/s the machine reads at this working-set size
    gemm_rate: float  # int8 operations/s the machine reaches

    @property
    def tokens_per_s(self) -> float:
        return self.units_per_s * self.rows

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.units_per_s * self.bytes_per_unit

    @property
    def achieved_ops_per_s(self) -> float:
        return self.units_per_s * self.ops_per_unit

    @property
    def memory_bound(self) -> float:
        """Units/s if reading the weights were all the time it took."""
        return self.bandwidth / self.bytes_per_unit if self.bytes_per_unit else math.inf

    @property
    def compute_bound(self) -> float:
        """Units/s if the int8 multiply-adds were all the time it took."""
        return self.gemm_rate / self.ops_per_unit if self.ops_per_unit else math.inf

    @property
    def bound(self) -> float:
        return min(self.memory_bound, self.compute_bound)

    @property
    def limited_by(self) -> str:
        return "memory" if self.memory_bound <= self.compute_bound else "compute"

    @property
    def fraction(self) -> float:
        """Measured over bound: 1.0 is the roof."""
        return self.units_per_s / self.bound if self.bound and math.isfinite(self.bound) else math.nan


def steps_per_s(short: tuple[int, float], long: tuple[int, float]) -> float:
    """Decoding steps per second from two runs (steps, seconds) that differ only in their output length."""
    (s1, t1), (s2, t2) = short, long
    return (s2 - s1) / (t2 - t1) if t2 > t1 and s2 > s1 else math.nan


# -- probes (child processes) ---------------------------------------------------------------------------


def _rate(call: Callable[[], object], work: float) -> float:
    """`work` per second of `call`, the median of a few rounds of repeated calls."""
    call()
    rates = []
    for _ in range(_ROUNDS):
        count, started = 0, time.perf_counter()
        while True:
            call()
            count += 1
            elapsed = time.perf_counter() - started
            if elapsed >= _PROBE_S / _ROUNDS:
                break
        rates.append(work * count / elapsed)
    return statistics.median(rates)


def _numpy_probe() -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    gemm = {}
    for m, k, n in GEMM_SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        gemm[f"{m}x{k}x{n}"] = _rate(partial(np.matmul, a, b), gemm_ops(m, k, n))
    bandwidth = {}
    for mib in BANDWIDTH_MIB:
        matrix = np.ones((mib * 2**20 // 4 // 1024, 1024), dtype=np.float32)
        vector = np.ones(1024, dtype=np.float32)
        bandwidth[str(mib * 2**20)] = _rate(partial(np.matmul, matrix, vector), matrix.nbytes)
        del matrix
    return {"library": f"numpy {np.__version__}", "fp32_gemm": gemm, "read_bandwidth": bandwidth}


def _torch_probe(threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    fp32: dict[str, float] = {}
    int8: dict[str, Any] = {}
    for m, k, n in GEMM_SHAPES:
        a = torch.randn(m, k)
        b = torch.randn(k, n)
        fp32[f"{m}x{k}x{n}"] = _rate(partial(torch.mm, a, b), gemm_ops(m, k, n))
        qa = torch.randint(-127, 127, (m, k), dtype=torch.int8)
        qb = torch.randint(-127, 127, (k, n), dtype=torch.int8)
        try:
            int8[f"{m}x{k}x{n}"] = _rate(partial(torch._int_mm, qa, qb), gemm_ops(m, k, n))
        except (RuntimeError, AttributeError) as exc:  # an old torch, or no CPU kernel for it
            int8[f"{m}x{k}x{n}"] = math.nan
            int8["error"] = str(exc)[:200]
    return {"library": f"torch {torch.__version__}", "fp32_gemm": fp32, "int8_gemm": int8}


def run_probe(name: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """One probe in a child process (so that numpy's and torch's thread pools never meet)."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "bench.roofline", "--probe", name],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {name} failed: {(done.stderr or done.stdout)[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the bounds, together --------------------------------------------------------------------------------


@dataclass
class Bounds:
    fp32_gemm: dict[str, dict[str, float]] = field(default_factory=dict)  # library -> shape -> ops/s
    int8_gemm: dict[str, dict[str, float]] = field(default_factory=dict)
    read_bandwidth: dict[int, float] = field(default_factory=dict)  # working-set bytes -> bytes/s
    errors: list[str] = field(default_factory=list)

    @staticmethod
    def _best(table: dict[str, dict[str, float]]) -> float:
        rates = [r for shapes in table.values() for r in shapes.values() if isinstance(r, float) and r == r]
        return max(rates) if rates else math.nan

    @property
    def int8_peak(self) -> float:
        return self._best(self.int8_gemm)

    @property
    def fp32_peak(self) -> float:
        return self._best(self.fp32_gemm)

    @property
    def dram_bandwidth(self) -> float:
        return self.read_bandwidth[max(self.read_bandwidth)] if self.read_bandwidth else math.nan


def measure_bounds() -> Bounds:
    bounds = Bounds()
    try:
        numpy_result = run_probe("numpy")
        bounds.fp32_gemm[numpy_result["library"]] = numpy_result["fp32_gemm"]
        bounds.read_bandwidth = {int(k): float(v) for k, v in numpy_result["read_bandwidth"].items()}
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        bounds.errors.append(str(exc)[:500])
    try:
        torch_result = run_probe("torch")
        bounds.fp32_gemm[torch_result["library"]] = torch_result["fp32_gemm"]
        int8 = {k: v for k, v in torch_result["int8_gemm"].items() if k != "error"}
        bounds.int8_gemm[torch_result["library"] + " _int_mm"] = int8
        if "error" in torch_result["int8_gemm"]:
            bounds.errors.append(f"int8 GEMM: {torch_result['int8_gemm']['error']}")
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
        bounds.errors.append(str(exc)[:500])
    return bounds


def _shape_columns(bounds: Bounds) -> list[str]:
    return [f"{m}x{k}x{n}" for m, k, n in GEMM_SHAPES]


def bounds_rows(bounds: Bounds) -> list[list[str]]:
    """Rows for the bounds table: what, library, one rate per shape."""
    rows = []
    for kind, table, unit in (
        ("int8 GEMM", bounds.int8_gemm, "GOPS"),
        ("fp32 GEMM", bounds.fp32_gemm, "GFLOPS"),
    ):
        for library, shapes in table.items():
            rows.append(
                [kind, library]
                + [f"{shapes.get(s, math.nan) / 1e9:,.0f} {unit}" for s in _shape_columns(bounds)]
            )
    return rows


# -- the paths ---------------------------------------------------------------------------------------------

DECODE_STEPS = (8, 40)  # two forced output lengths; their difference is pure decoding


@dataclass(frozen=True)
class PathSpec:
    """One model path to place: a converted model, the job run (rows and options) it decodes, and how."""

    name: str
    model: Path
    kind: str  # "translator" or "generator"
    run: dict[str, Any]
    rows: int  # sequences per step
    length_option: tuple[str, str] | None  # the (max, min) length options; None: prompt reading


def _with_length(run: dict[str, Any], options: tuple[str, str], steps: int) -> dict[str, Any]:
    high, low = options
    return {**run, "options": {**run["options"], high: steps, low: steps}}


def measure_path(
    spec: PathSpec, bounds: Bounds, *, device: str, compute_type: str, cores: int, repeats: int = 3
) -> Position:
    """Time one path in a raw engine child (one batch on every core) and place it against `bounds`."""
    from bench.ct2_model import read_model
    from bench.raw_engine import run_job

    weights = read_model(spec.model)
    kind_device, _, index = device.partition(":")
    job: dict[str, Any] = {
        "model": str(spec.model),
        "kind": spec.kind,
        "device": kind_device,
        "device_index": int(index or 0),
        "compute_type": compute_type,
        "inter_threads": 1,
        "intra_threads": cores,
    }
    per_step_matrix = weights.step_matrix_elements()
    if spec.length_option is not None:
        runs = [
            {**_with_length(spec.run, spec.length_option, steps), "batch_size": spec.rows, "repeats": repeats}
            for steps in DECODE_STEPS
        ]
        result = run_job({**job, "runs": runs})
        walls = [statistics.median(r["walls_s"]) for r in result["runs"]]
        rate = steps_per_s((DECODE_STEPS[0], walls[0]), (DECODE_STEPS[1], walls[1]))
        return Position(
            spec.name,
            rate,
            spec.rows,
            bytes_per_unit=weights.step_bytes(),
            ops_per_unit=2.0 * per_step_matrix * spec.rows,
            bandwidth=bandwidth_at(bounds.read_bandwidth, weights.step_bytes()),
            gemm_rate=bounds.int8_peak,
        )
    # Prompt reading: one new token after each prompt, the prompts one at a time.
    prompt_tokens = sum(len(row) for row in spec.run["rows"])
    result = run_job({**job, "runs": [{**spec.run, "batch_size": 1, "repeats": repeats}]})
    wall = statistics.median(result["runs"][0]["walls_s"])
    tokens_per_prompt = prompt_tokens / len(spec.run["rows"])
    return Position(
        spec.name,
        prompt_tokens / wall,
        1,
        # The weights are read once per prompt, shared by its tokens (each token still needs every
        # matrix but the output projection, which only the last one goes through).
        bytes_per_unit=weights.step_bytes() / tokens_per_prompt,
        ops_per_unit=2.0 * (per_step_matrix - weights.projection_elements()),
        bandwidth=bandwidth_at(bounds.read_bandwidth, weights.step_bytes()),
        gemm_rate=bounds.int8_peak,
    )


def position_rows(positions: Sequence[Position]) -> list[list[str]]:
    rows = []
    for p in positions:
        unit = "prompt tokens/s" if p.rows == 1 and "prompt" in p.path else "steps/s"
        measured = f"{p.units_per_s:,.1f} {unit}"
        if unit == "steps/s" and p.rows > 1:
            measured += f" ({p.tokens_per_s:,.0f} tokens/s)"
        rows.append(
            [
                p.path,
                measured,
                f"{p.bytes_per_unit / 1e6:,.1f} MB, {p.ops_per_unit / 1e9:,.2f} GOP",
                f"{p.achieved_bytes_per_s / 1e9:,.1f} GB/s, {p.achieved_ops_per_s / 1e9:,.0f} GOPS",
                f"{p.memory_bound:,.1f}",
                f"{p.compute_bound:,.1f}",
                p.limited_by,
                f"{p.fraction:.0%}" if p.fraction == p.fraction else "–",
            ]
        )
    return rows


def measure_section(
    section: Any, *, marian: Any, bart: Any | None, llm_folder: Path | None, cache_dir: Path, quick: bool
) -> None:
    """The benchmark's roofline section: the bounds, then each path placed against them (on the CPU)."""
    from bench import workloads
    from bench.raw import Seq2SeqInputs, converted_seq2seq
    from bench.scenarios import llm_inputs

    cores = len(os.sched_getaffinity(0))
    bounds = section.extra["bounds"] = measure_bounds()
    positions: list[Position] = section.extra.setdefault("positions", [])
    repeats = 1 if quick else 3
    specs = []
    for built, rows, label in ((marian, 16, "Marian decoding"), (bart, 4, "DistilBART decoding")):
        if built is None:
            continue
        inputs = Seq2SeqInputs(built.folder)
        texts = [
            workloads.passage(30_000 + i) if rows == 16 else workloads.article(30_000 + i, 1_000)
            for i in range(rows)
        ]
        specs.append(
            PathSpec(
                f"{label}, {rows} rows per step",
                converted_seq2seq(built.folder, cache_dir),
                "translator",
                inputs.job_run(texts, DECODE_STEPS[0]),
                rows,
                ("max_decoding_length", "min_decoding_length"),
            )
        )
    if llm_folder is not None:
        prompts = llm_inputs(llm_folder)
        articles = [workloads.article(30_100 + i, 1_000) for i in range(1 if quick else 3)]
        model = llm_folder.parent / "ct2-int8"
        specs.append(
            PathSpec(
                "LLM prompt reading", model, "generator", prompts.job_run(articles, 1, static=False), 1, None
            )
        )
        specs.append(
            PathSpec(
                "LLM single-sequence decoding",
                model,
                "generator",
                prompts.job_run(articles[:1], DECODE_STEPS[0]),
                1,
                ("max_length", "min_length"),
            )
        )
    for spec in specs:
        position = measure_path(spec, bounds, device="cpu", compute_type="int8", cores=cores, repeats=repeats)
        positions.append(position)
        log_position(position)


def log_position(p: Position) -> None:
    import logging

    logging.getLogger(__name__).info(
        "%s: %.1f units/s, %.1f GB/s, %.0f GOPS; bound %.1f (%s), %.0f%% of it",
        p.path,
        p.units_per_s,
        p.achieved_bytes_per_s / 1e9,
        p.achieved_ops_per_s / 1e9,
        p.bound,
        p.limited_by,
        100 * p.fraction,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roofline", description=__doc__.splitlines()[0])
    parser.add_argument("--probe", choices=("numpy", "torch"), required=True)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args(argv)
    result = _numpy_probe() if args.probe == "numpy" else _torch_probe(args.threads)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
