"""The benchmark's targets table: each target read from the sections it needs, met, missed or unmeasured."""

from __future__ import annotations

from bench.demo import DemoTimes
from bench.perf import Run
from bench.raw import RawLevel
from bench.report import demo_table, targets
from bench.roofline import Position
from bench.scenarios import Section
from devkit.launcher import ServerProcess


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


def test_a_missed_share_of_the_raw_engine_says_how_long_the_engine_waited():
    translation = Section("translation")
    service = _run(16, 700.0)
    service.batches, service.batch_s = [16, 16, 8], [4.0, 3.0, 1.0]  # 8 s of batches in a 10 s run
    translation.service.append(service)
    translation.raw.append(RawLevel(16, runs={"2x1": _run(16, 1000.0)}))

    [why] = [t.why for t in targets({"translation": translation}) if "16 ≥ 0.90 of the best raw" in t.goal]
    assert why.startswith("the engine idled 20% of the run between the service's batches")
    assert "its 3 batches of 13.3 rows on average took 8.0 s in all" in why
    assert why.endswith("where the raw engine ran the same rows in 10.0 s (2x1)")


def test_the_demo_targets_stand_beside_the_raw_engine_on_the_same_prompts():
    demo = Section("demo")
    times = DemoTimes(arrivals=[{"en": 20.0, "fr": 40.0, "de": 40.0, "es": 40.0}, {"en": 22.0, "es": 30.0}])
    times.raw_summary_s, times.raw_translation_s = 18.0, 12.0
    times.raw_prompt_tokens, times.raw_summary_tokens, times.raw_rows = 1004, 120, 6
    demo.extra["demo"] = times

    found = {t.goal: t for t in targets({"demo": demo})}
    fast, bound = (found[g] for g in sorted(found) if "demo's request" in g)
    assert "≤ 20 s" in fast.goal and fast.status == "not met"
    assert fast.measured.startswith("35.0 s") and "raw engine on the same prompts: 30.0 s" in fast.measured
    assert "a 1004-token prompt read" in fast.why and "6 sentence rows" in fast.why
    assert "≤ 31 s" in bound.goal and bound.status == "not met"
    rows = {row[0]: row[1:] for row in demo_table(demo).rows}
    assert rows["service, median"] == ["21.0 s", "40.0 s", "40.0 s", "35.0 s", "35.0 s"]
    assert rows["raw engine, same prompts"] == ["18.0 s", "30.0 s", "30.0 s", "30.0 s", "30.0 s"]
    empty = {t.goal: t.status for t in targets({})}
    assert [s for g, s in empty.items() if "demo's request" in g] == ["not measured", "not measured"]


def test_the_launcher_reads_each_batch_and_how_long_it_ran(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "x DEBUG m-batcher: batch of 3 (120 input tokens) after gathering for 2.0 ms; 0 held back\n"
        "x DEBUG m-batcher: batch of 3 ran in 1500.5 ms\n"
        "x DEBUG m-batcher: batch of 1 (40 input tokens) after gathering for 0.1 ms; 0 held back\n"
        "x DEBUG m-batcher: batch of 1 ran in 20.0 ms\n"
    )
    server = ServerProcess(["--profile", "tiny"], log)
    assert server.batch_sizes(0) == [3, 1]
    assert server.batch_seconds(0) == [1.5005, 0.02]


def test_prompt_reading_is_held_to_the_rate_before_the_round():
    roofline = Section("roofline")
    # 180 prompt tokens/s where the int8 GEMM rate allows 400 (work per token 1 GOP at 400 GOPS)
    roofline.extra["positions"] = [Position("LLM prompt reading", 180.0, 1, 5e6, 1e9, 22.5e9, 4e11)]
    [target] = [t for t in targets({"roofline": roofline}) if "prompt reading" in t.goal]
    assert target.measured == "180.0 tokens/s" and target.status == "not met"
    assert target.why.startswith("45% of the int8 compute bound") and "(400.0 tokens/s)" in target.why


def test_a_target_whose_section_did_not_run_says_so():
    found = {t.goal: t for t in targets({"roofline": Section("roofline")})}
    for goal in ("Embedded LLM ≥ 3× baseline tokens/s", "Embedded profile start-up after the first < 10 s"):
        assert found[goal].why == "the llm section was not in this run"
    decoding = found["Embedded LLM single-sequence decoding ≥ 60% of the memory-bandwidth bound (raw engine)"]
    assert decoding.status == "not measured" and decoding.why == ""  # its section ran and measured nothing
