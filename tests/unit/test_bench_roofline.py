"""The roofline's arithmetic: operations, bandwidth by working set, which bound a step meets."""

from __future__ import annotations

import math

from bench.roofline import Position, bandwidth_at, gemm_ops, steps_per_s


def test_gemm_ops_counts_two_per_multiply_add() -> None:
    assert gemm_ops(16, 512, 2048) == 2 * 16 * 512 * 2048


def test_bandwidth_at_takes_the_smallest_probe_that_holds_the_working_set() -> None:
    curve = {16 * 2**20: 30e9, 64 * 2**20: 10e9, 1024 * 2**20: 6e9}
    assert bandwidth_at(curve, 8 * 2**20) == 30e9
    assert bandwidth_at(curve, 52e6) == 10e9  # 52 MB is past 16 MiB, within 64 MiB
    assert bandwidth_at(curve, 1.5e9) == 6e9  # past every probe: the largest one
    assert math.isnan(bandwidth_at({}, 1.0))


def test_steps_per_s_drops_what_both_runs_share() -> None:
    # 2 s of prompt reading in both, then 0.1 s per step.
    assert math.isclose(steps_per_s((8, 2.8), (40, 6.0)), 10.0)
    assert math.isnan(steps_per_s((8, 3.0), (40, 2.0)))


def _llm_step(units_per_s: float) -> Position:
    return Position(
        "decode",
        units_per_s,
        rows=1,
        bytes_per_unit=1.5e9,
        ops_per_unit=3.0e9,
        bandwidth=30e9,
        gemm_rate=300e9,
    )


def test_a_single_sequence_step_is_bound_by_memory() -> None:
    p = _llm_step(10.0)
    assert math.isclose(p.memory_bound, 20.0)  # 30 GB/s over 1.5 GB
    assert math.isclose(p.compute_bound, 100.0)
    assert p.limited_by == "memory"
    assert math.isclose(p.fraction, 0.5)
    assert math.isclose(p.achieved_bytes_per_s, 15e9)
    assert math.isclose(p.achieved_ops_per_s, 30e9)


def test_a_wide_batch_is_bound_by_compute() -> None:
    p = Position(
        "batch", 50.0, rows=64, bytes_per_unit=50e6, ops_per_unit=64 * 1e8, bandwidth=10e9, gemm_rate=200e9
    )
    assert p.limited_by == "compute"
    assert math.isclose(p.bound, 200e9 / (64 * 1e8))
    assert math.isclose(p.tokens_per_s, 3200.0)
