"""The thread layout of a CTranslate2 model: the rule, the spec's options, and the measured choice
(a fake engine that reports timings)."""

from __future__ import annotations

import pytest

from service.errors import ModelLoadError
from service.models.thread_layout import (
    ThreadLayout,
    candidate_layouts,
    configured_layout,
    fastest_layout,
    rule_layout,
)


def test_the_rule_puts_narrow_encoder_decoders_side_by_side_and_the_rest_on_every_core():
    assert rule_layout(2, "cpu", encoder_decoder=True) == ThreadLayout(2, 1)
    assert rule_layout(2, "cpu", encoder_decoder=True, width=512) == ThreadLayout(2, 1)  # Marian
    assert rule_layout(2, "cpu", encoder_decoder=True, width=1024) == ThreadLayout(1, 2)  # DistilBART
    assert rule_layout(2, "cuda", encoder_decoder=True, width=1024) == ThreadLayout(1, 1)
    assert rule_layout(4, "cpu", encoder_decoder=False) == ThreadLayout(1, 4)
    assert rule_layout(1, "cpu", encoder_decoder=True) == ThreadLayout(1, 1)
    assert rule_layout(8, "cuda:0", encoder_decoder=True) == ThreadLayout(1, 1)


def test_candidates_split_the_cores_into_whole_batches():
    assert [str(c) for c in candidate_layouts(4)] == ["1x4", "2x2", "4x1"]
    assert [str(c) for c in candidate_layouts(3)] == ["1x3", "3x1"]
    assert [str(c) for c in candidate_layouts(0)] == ["1x1"]


def test_options_fix_the_layout_and_derive_the_missing_half():
    def layout(**options):
        return configured_layout("m", options, 4, "cpu", encoder_decoder=True)

    assert layout(inter_threads=2, intra_threads=3) == ThreadLayout(2, 3, "options")
    assert layout(inter_threads=2) == ThreadLayout(2, 2, "options")
    assert layout(intra_threads=4) == ThreadLayout(1, 4, "options")
    assert layout() == ThreadLayout(4, 1)  # the rule
    assert layout(thread_layout="measure") is None
    # A GPU has nothing to measure: the rule stands.
    assert configured_layout(
        "m", {"thread_layout": "measure"}, 4, "cuda", encoder_decoder=True
    ) == ThreadLayout(1, 1)


@pytest.mark.parametrize(
    "options",
    [
        {"inter_threads": 0},
        {"intra_threads": "two"},
        {"thread_layout": "fast"},
        {"thread_layout": "measure", "inter_threads": 2},
    ],
)
def test_bad_options_stop_the_load_with_the_models_name(options):
    with pytest.raises(ModelLoadError, match="'m'"):
        configured_layout("m", options, 2, "cpu", encoder_decoder=False)


class FakeEngine:
    """Reports a fixed tokens/s per layout, and records which layouts it was asked to run."""

    def __init__(self, rates: dict[str, float]) -> None:
        self.rates = rates
        self.ran: list[str] = []

    def __call__(self, layout: ThreadLayout) -> float:
        self.ran.append(str(layout))
        return self.rates[str(layout)]


def test_the_measured_choice_is_the_fastest_layout():
    engine = FakeEngine({"1x2": 1200.0, "2x1": 2200.0})
    best, figures = fastest_layout(candidate_layouts(2), engine)
    assert str(best) == "2x1" and best.how == "measure"
    assert engine.ran == ["1x2", "2x1"]
    assert figures == {"1x2": 1200.0, "2x1": 2200.0}


def test_a_near_tie_keeps_fewer_batches_side_by_side():
    best, _ = fastest_layout(candidate_layouts(2), FakeEngine({"1x2": 1000.0, "2x1": 1020.0}))
    assert str(best) == "1x2"
    best, _ = fastest_layout(candidate_layouts(4), FakeEngine({"1x4": 10.0, "2x2": 9.0, "4x1": 14.0}))
    assert str(best) == "4x1"


def test_nothing_to_measure_is_an_error():
    with pytest.raises(ValueError):
        fastest_layout([], FakeEngine({}))


def test_split_batches_are_balanced_and_sorted_by_prompt_length():
    from service.models.batching import Job, _split

    jobs = [Job([0] * n, 4) for n in (5, 1, 9, 3, 7)]
    parts = _split(jobs, 2)
    assert [[len(job.prompt) for job in part] for part in parts] == [[1, 3, 5], [7, 9]]
    assert _split(jobs[:1], 4) == [jobs[:1]]
    assert len(_split(jobs, 8)) == 5
