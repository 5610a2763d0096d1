"""bench.quality.confidence: its figures, and a run over a fake pipeline with scripted translations."""

from __future__ import annotations

import pytest

from bench.quality.confidence import band_of, evaluate, render, spearman
from bench.quality.integrity import TranslationItem
from service.pipeline import Limits
from tests.fakes import ScriptedTranslator, fake_pipeline

S1 = "The harbour authority in Marseille said on Friday that 340 dockers would return to work next week."
S2 = "Union leaders warned that the strike could resume if the pension talks failed again in April."
F1 = (
    "L'autorité portuaire de Marseille a annoncé vendredi que 340 dockers reprendraient le travail "
    "la semaine prochaine."
)
F2 = (
    "Les dirigeants syndicaux ont averti que la grève pourrait reprendre si les négociations sur les "
    "retraites échouaient de nouveau en avril."
)


def test_spearman_follows_the_order_of_ranks():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [9, 7, 5, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 2, 2], [5, 5, 8, 8]) == pytest.approx(1.0)  # ties share their rank
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1, 2], [2, 1]) is None


def test_confidence_bands_cover_zero_to_one():
    assert [band_of(c) for c in (0.0, 0.19, 0.2, 0.59, 0.8, 1.0)] == [0, 0, 1, 2, 4, 4]


def test_a_run_reports_repairs_and_chrf_before_and_after():
    # The second sentence comes back untranslated inside the document, and right when asked alone.
    script = {(S1, "fr"): F1, (S2, "fr"): F2, (f"{S1} {S2}", "fr"): f"{F1} {S2}"}
    translator = ScriptedTranslator("scripted-mt", [("en", "fr")], script)
    pipeline = fake_pipeline(translators=[translator], limits=Limits(max_repair_attempts=2))
    items = [TranslationItem("a", S1, F1, "en", "fr"), TranslationItem("b", S2, F2, "en", "fr")]
    outcomes = evaluate(pipeline, items, document_size=2, concurrency=2)
    sentences = [o for o in outcomes if o.unit == "sentence"]
    [document] = [o for o in outcomes if o.unit == "document"]
    assert all(o.returned.text == o.reference and not o.first_findings for o in sentences)
    assert document.first == f"{F1} {S2}" and document.first_findings
    assert document.repaired and document.attempted and document.returned.text == f"{F1} {F2}"
    assert document.chrf_returned == pytest.approx(100.0) and document.chrf_first < 100.0
    report = render(outcomes, profile="fake", data="DIR", seconds=1.0, attempts=2)
    document_table = report.split("## Documents")[1].split("##")[0]
    # fr: 1 output, 100 findings per 100 first, 0 returned, 1 attempted, 1 succeeded.
    assert "| fr | 1 | 100 | 0 | 1 | 1 |" in document_table
    assert "## Calibration" in report and "Spearman" in report and "1.5 (the service's)" in report
