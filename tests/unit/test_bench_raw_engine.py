"""The raw engine's thread layouts and how a run's rows are shared among batches; the LLM prompt split."""

from __future__ import annotations

import math

import pytest

from bench.perf import Run
from bench.raw import RawLevel, common_prefix
from bench.raw_engine import _chunks, cpu_layouts, layout_plan
from service.models.thread_layout import ThreadLayout


@pytest.mark.parametrize(
    ("concurrency", "inter", "expected"),
    [
        (16, 1, (16, 1)),  # one batch of all the rows in flight
        (16, 2, (8, 2)),  # two batches of 8 side by side
        (32, 2, (16, 2)),
        (1, 2, (1, 1)),  # one request in flight leaves the second replica idle
        (3, 2, (2, 2)),  # 2 + 1
        (5, 4, (2, 3)),  # 2 + 2 + 1: three replicas busy
        (0, 0, (1, 1)),  # nonsense counts are read as one
    ],
)
def test_layout_plan_shares_the_rows_in_flight_among_replicas(
    concurrency: int, inter: int, expected: tuple[int, int]
) -> None:
    batch, in_flight = layout_plan(concurrency, inter)
    assert (batch, in_flight) == expected
    assert batch * in_flight >= max(1, concurrency)  # every row in flight has a place
    assert batch * (in_flight - 1) < max(1, concurrency)  # and no batch is left empty


def test_cpu_layouts_are_all_cores_on_one_batch_and_one_core_per_batch() -> None:
    assert [str(layout) for layout in cpu_layouts(2)] == ["1x2", "2x1"]
    assert cpu_layouts(8) == [ThreadLayout(1, 8), ThreadLayout(8, 1)]
    assert cpu_layouts(1) == [ThreadLayout(1, 1)]


def test_chunks_cover_every_row_once_in_order() -> None:
    chunks = _chunks(list("abcdefg"), 3)
    assert chunks == [[0, 1, 2], [3, 4, 5], [6]]
    assert _chunks([], 4) == []


def test_common_prefix_is_the_shared_opening() -> None:
    assert common_prefix([1, 2, 3, 4], [1, 2, 9]) == [1, 2]
    assert common_prefix([1, 2], [1, 2, 3]) == [1, 2]
    assert common_prefix([5], [6]) == []


def _run(tokens: int, wall_s: float) -> Run:
    return Run("x", 4, 4, latencies=[wall_s] * 4, tokens=tokens, wall_s=wall_s)


def test_raw_level_best_is_the_fastest_measured_layout() -> None:
    level = RawLevel(4, runs={"1x2": _run(400, 2.0), "2x1": _run(400, 1.0)}, failed={"4x1": "boom"})
    best = level.best
    assert best is not None and best[0] == "2x1"
    assert math.isclose(best[1].tokens_per_s, 400.0)
    assert RawLevel(4).best is None
