"""The benchmark's targets table: each target read from the sections it needs, met, missed or unmeasured."""

from __future__ import annotations

from bench.perf import Run
from bench.raw import RawLevel
from bench.report import targets
from bench.roofline import Position
from bench.scenarios import Section


def _run(concurrency: int, tokens_per_s: float, latency_s: float = 1.0, requests: int = 10) -> Run:
    return Run(
        f"run at {concurrency}",
        concurrency,
        requests,
        latencies=[latency_s] * requests,
        tokens=int(tokens_per_s * 10),
        wall_s=10.0,
    )


def _by_goal(sections: dict[str, Section]) -> dict[str, tuple[str, str]]:
    return {t.goal: (t.measured, t.status) for t in targets(sections)}


def test_translation_targets_against_the_baseline_and_the_raw_engine():
    translation = Section("translation")
    translation.baseline.append(_run(1, 100.0))
    translation.service.append(_run(16, 900.0, latency_s=0.8))
    translation.raw.append(RawLevel(16, runs={"1x2": _run(16, 700.0), "2x1": _run(16, 1000.0)}))

    found = _by_goal({"translation": translation})

    measured, status = found["Marian translation at concurrency 16 ≥ ×35 the baseline's tokens/s"]
    assert status == "not met" and measured.startswith("×9.00") and "best raw engine: ×10.00" in measured
    assert found["Marian translation at concurrency 16 ≥ 0.90 of the best raw engine"] == ("×0.90", "met")
    assert found["Marian translation at concurrency 32 ≥ 0.90 of the best raw engine"][1] == "not measured"
    assert found["Marian p95 latency at concurrency 16 ≤ 1.0 s"][1] == "met"
    assert found["DistilBART summaries at concurrency 4 ≥ 0.90 of the best raw engine"][1] == "not measured"


def test_the_llm_decoding_target_reads_the_rooflines_position():
    roofline = Section("roofline")
    roofline.extra["positions"] = [
        # 9 steps/s over 1.5 GB a step at 22.5 GB/s (a bound of 15 steps/s), far from the compute bound
        Position("LLM single-sequence decoding", 9.0, 1, 1.5e9, 3e9, 22.5e9, 1e15),
    ]
    found = _by_goal({"roofline": roofline})
    goal = "Embedded LLM single-sequence decoding ≥ 60% of the memory-bandwidth bound (raw engine)"
    assert found[goal] == ("60%", "met")
    assert _by_goal({})[goal] == ("–", "not measured")
