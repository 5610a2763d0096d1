"""Evidence on every output: integrity findings through the pipeline, repairs, confidence and
min_confidence, and their protobuf form. Fake models that write scripted, real sentences."""

from __future__ import annotations

import dataclasses
import math

import grpc
import pytest

from service.api import convert
from service.api.status import rich_status, status_code_for
from service.checks import Finding, FindingKind
from service.errors import InvalidInputError, LowConfidenceError, Reason, RequestCancelledError
from service.pipeline import (
    LanguageFailure,
    LanguageSummary,
    Limits,
    SummarizeJob,
    SummaryOptions,
    TranslateJob,
    TranslationFailure,
)
from service.pipeline.evidence import (
    CERTAINTY_EXPONENT,
    Evidence,
    ScoredText,
    certainty,
    chained_log_prob,
    evidence_of,
    joined_log_prob,
)
from service.pipeline.types import TranslateResult, TranslationItem
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer_client import _convert as client_convert
from tests.fakes import ScriptedSummarizer, ScriptedTranslator, fake_pipeline

K = FindingKind

S1 = "The harbour authority in Marseille said on Friday that 340 dockers would return to work next week."
S2 = "Union leaders warned that the strike could resume if the pension talks failed again in April."
S3 = "Shipping companies had diverted more than a dozen container vessels during the long dispute."
F1 = (
    "L'autorité portuaire de Marseille a annoncé vendredi que 340 dockers reprendraient le travail "
    "la semaine prochaine."
)
F2 = (
    "Les dirigeants syndicaux ont averti que la grève pourrait reprendre si les négociations sur les "
    "retraites échouaient de nouveau en avril."
)
F3 = (
    "Les compagnies maritimes avaient dérouté plus d’une douzaine de porte-conteneurs "
    "pendant le long conflit."
)
ES1 = (
    "La autoridad portuaria de Marsella anunció el viernes que 340 estibadores volverían al trabajo "
    "la próxima semana."
)
DE1 = (
    "Die Hafenbehörde von Marseille teilte am Freitag mit, dass 340 Hafenarbeiter nächste Woche "
    "wieder an die Arbeit gehen würden."
)
FR_DE = (
    "Le port de Marseille a annoncé vendredi que 340 dockers reprendraient le travail la semaine prochaine."
)
THREE = f"{S1} {S2} {S3}"
PAIRS = [("en", "fr"), ("fr", "en"), ("en", "es"), ("en", "de"), ("de", "en"), ("fr", "de")]


def pipeline_with(script, *, attempts: int = 2, translators=None, summarizer=None):
    translators = translators or [ScriptedTranslator("scripted-mt", PAIRS, script)]
    return fake_pipeline(
        summarizer=summarizer,
        translators=translators,
        limits=Limits(max_repair_attempts=attempts),
    )


def translate_one(pipeline, text: str, target: str = "fr", **job_fields) -> TranslationItem:
    result = pipeline.translate(TranslateJob((text,), (target,), source_language="en", **job_fields))
    assert not result.failures
    [item] = result.items
    return item


def kinds(evidence: Evidence) -> list[FindingKind]:
    return sorted(issue.kind for issue in evidence.issues)


# --- each check surfaces on the output ---------------------------------------------------------

CRAFTED = [
    ("clean", S1, F1, []),
    ("wrong language", S1, ES1, [K.WRONG_LANGUAGE]),
    ("echo", S1, S1, [K.ECHO]),
    ("loop", S1, F1[:-1] + " la semaine prochaine la semaine prochaine.", [K.REPETITION]),
    ("dropped sentence", THREE, f"{F1} {F3}", [K.OMISSION]),
    ("number altered", S1, F1.replace("340", "430"), [K.NUMBER_ALTERED]),
    ("number missing", S1, F1.replace("340 ", "les "), [K.NUMBER_MISSING]),
    ("name altered", S1, F1.replace("Marseille", "Toulon"), [K.NAME_ALTERED]),
    ("name missing", S1, F1.replace(" de Marseille", ""), [K.NAME_MISSING]),
]


@pytest.mark.parametrize(("case", "source", "output", "expected"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_each_check_surfaces_on_a_translation(case, source, output, expected):
    pipeline = pipeline_with({(source, "fr"): output}, attempts=0)
    item = translate_one(pipeline, source)
    assert item.text == output
    assert kinds(item.evidence) == expected
    assert not item.evidence.repaired
    if expected:
        assert 0.0 < item.evidence.confidence < 1.0
    else:
        assert item.evidence.confidence == 1.0  # fakes report no model scores: the check score alone
    for issue in item.evidence.issues:  # spans index the text they name
        if issue.span is not None:
            text = source if issue.in_source else output
            assert 0 <= issue.span[0] < issue.span[1] <= len(text)


def test_a_dropped_sentence_is_spanned_in_the_submitted_source():
    padded = "\u200b  " + THREE  # stripped before translating; spans still index what was sent
    pipeline = pipeline_with({(THREE, "fr"): f"{F1} {F3}"}, attempts=0)
    item = translate_one(pipeline, padded)
    [omission] = item.evidence.issues
    assert omission.in_source and omission.span is not None
    assert padded[omission.span[0] : omission.span[1]] in (S2, S3)


def test_a_summary_with_a_number_the_article_lacks_is_flagged():
    summarizer = ScriptedSummarizer(
        "The harbour authority in Marseille said 560 dockers would return to work.", languages=("en",)
    )
    pipeline = pipeline_with({}, summarizer=summarizer)
    events = list(pipeline.run(pipeline.plan(SummarizeJob(THREE, source_language="en"))))
    summary = events[1]
    assert isinstance(summary, LanguageSummary) and kinds(summary.evidence) == [K.NUMBER_ALTERED]
    assert "560" in summary.evidence.issues[0].detail and not summary.evidence.repaired


def test_a_translated_summary_carries_its_translation_issues_and_both_confidences():
    base = "The harbour authority in Marseille said 560 dockers would return to work."
    summarizer = ScriptedSummarizer(base, languages=("en",))
    echo = base  # the translation copies the English summary
    pipeline = pipeline_with({(base, "fr"): echo}, summarizer=summarizer)
    events = list(
        pipeline.run(pipeline.plan(SummarizeJob(THREE, source_language="en", target_languages=("en", "fr"))))
    )
    en, fr = events[1], events[2]
    assert isinstance(en, LanguageSummary) and isinstance(fr, LanguageSummary)
    assert kinds(fr.evidence) == [K.ECHO]  # the summary's own NUMBER_ALTERED is not repeated
    assert fr.evidence.confidence == pytest.approx(
        en.evidence.confidence * evidence_of(fr.evidence.issues, None).confidence
    )


# --- repair -------------------------------------------------------------------------------------


def test_a_failing_sentence_is_translated_again_alone_and_replaced():
    # First the second sentence comes back untranslated; asked alone, it is translated.
    script = {(f"{S1} {S2}", "fr"): f"{F1} {S2}", (S2, "fr"): F2}
    pipeline = pipeline_with(script)
    item = translate_one(pipeline, f"{S1} {S2}")
    assert item.text == f"{F1} {F2}"
    assert item.evidence.repaired and item.evidence.issues == () and item.evidence.confidence == 1.0
    assert item.evidence.repair_attempts == 1
    [translator] = pipeline._routes.route("en", "fr").translators  # type: ignore[union-attr]
    assert [texts for texts, _, _ in translator.calls] == [(f"{S1} {S2}",), (S2,)]


def test_a_repair_keeps_the_paragraphs_of_the_translation():
    source = f"{S1}\n\n{S2}"
    script = {(source, "fr"): f"{F1}\n\n{S2}", (S2, "fr"): F2}
    item = translate_one(pipeline_with(script), source)
    assert item.text == f"{F1}\n\n{F2}" and item.evidence.repaired
    # Rebuilt from scratch (a sentence was dropped), the pieces follow the source's line breaks.
    three = f"{S1}\n\n{S2} {S3}"
    script = {(three, "fr"): f"{F1} {F3}", (S1, "fr"): F1, (S2, "fr"): F2, (S3, "fr"): F3}
    item = translate_one(pipeline_with(script), three)
    assert item.text == f"{F1}\n\n{F2} {F3}" and item.evidence.repaired


def test_a_translator_that_fails_first_and_succeeds_second_is_repaired():
    # The same sentence, asked again alone, first loops and then comes out right.
    loop = F2[:-1] + " en avril en avril en avril."
    script = {(f"{S1} {S2}", "fr"): f"{F1} {loop}", (S2, "fr"): [loop, F2]}
    translator = ScriptedTranslator("flaky-mt", PAIRS, script)
    other = ScriptedTranslator("second-mt", [("en", "fr")], {(S2, "fr"): F2})
    pipeline = pipeline_with({}, translators=[translator, other])
    item = translate_one(pipeline, f"{S1} {S2}")
    # The same route gave the loop again; the second translator of the pair gave the sentence.
    assert item.text == f"{F1} {F2}" and item.evidence.repaired and item.evidence.repair_attempts == 2
    assert item.models == ("flaky-mt", "second-mt")
    assert [t for t, _, _ in other.calls] == [(S2,)]


def test_a_one_sentence_translation_is_repaired_through_the_pivot():
    # fr -> de directly comes back in French; through English it is German.
    direct = ScriptedTranslator("direct-mt", [("fr", "de")], {(F1, "de"): FR_DE})
    into_en = ScriptedTranslator("fr-en", [("fr", "en")], {(F1, "en"): S1})
    from_en = ScriptedTranslator("en-de", [("en", "de")], {(S1, "de"): DE1})
    pipeline = pipeline_with({}, translators=[direct, into_en, from_en])
    result = pipeline.translate(TranslateJob((F1,), ("de",), source_language="fr"))
    [item] = result.items
    assert item.text == DE1 and item.evidence.repaired and not item.evidence.issues
    assert item.models == ("direct-mt", "fr-en", "en-de")
    # The same input through the same route would be the same output: only the pivot was asked.
    assert len(direct.calls) == 1 and item.evidence.repair_attempts == 1


def test_what_cannot_be_repaired_stays_flagged():
    script = {(f"{S1} {S2}", "fr"): f"{F1} {S2}"}  # the sentence alone stays English: "fr(...)"
    pipeline = pipeline_with(script)
    item = translate_one(pipeline, f"{S1} {S2}")
    assert item.text == f"{F1} {S2}" and not item.evidence.repaired
    assert kinds(item.evidence) == [K.ECHO] and item.evidence.repair_attempts == 1


def test_a_dropped_sentence_is_repaired_by_translating_each_sentence_alone():
    script = {(THREE, "fr"): f"{F1} {F3}", (S1, "fr"): F1, (S2, "fr"): F2, (S3, "fr"): F3}
    pipeline = pipeline_with(script)
    item = translate_one(pipeline, THREE)
    assert item.text == f"{F1} {F2} {F3}" and item.evidence.repaired and not item.evidence.issues


def test_repairs_stop_at_the_attempt_budget():
    translators = [
        ScriptedTranslator(f"mt-{i}", [("en", "fr")], {(f"{S1} {S2}", "fr"): f"{F1} {S2}"}) for i in range(4)
    ]
    pipeline = pipeline_with({}, translators=translators, attempts=2)
    item = translate_one(pipeline, f"{S1} {S2}")
    assert item.evidence.repair_attempts == 2 and kinds(item.evidence) == [K.ECHO]
    assert [len(t.calls) for t in translators] == [2, 1, 0, 0]  # the first pass, then one call per attempt


def test_no_repair_when_attempts_are_off():
    translator = ScriptedTranslator("mt", PAIRS, {(f"{S1} {S2}", "fr"): f"{F1} {S2}"})
    pipeline = pipeline_with({}, translators=[translator], attempts=0)
    item = translate_one(pipeline, f"{S1} {S2}")
    assert kinds(item.evidence) == [K.ECHO] and len(translator.calls) == 1


def test_a_repair_stops_when_the_caller_goes_away():
    translator = ScriptedTranslator("mt", PAIRS, {(f"{S1} {S2}", "fr"): f"{F1} {S2}"})
    pipeline = pipeline_with({}, translators=[translator])
    calls_before_stop = 1
    with pytest.raises(RequestCancelledError):
        pipeline.translate(
            TranslateJob((f"{S1} {S2}",), ("fr",), source_language="en"),
            should_stop=lambda: len(translator.calls) >= calls_before_stop,
        )
    assert len(translator.calls) == calls_before_stop


def test_summary_translations_are_repaired_and_the_repair_is_cached():
    # The summary is translated sentence by sentence; its second sentence comes back untranslated,
    # and the pair's other translator gives it. The repaired sentence keeps the sources of sentence 2.
    base = f"{S1} {S2}"
    summarizer = ScriptedSummarizer(base, languages=("en",))
    translator = ScriptedTranslator("mt", PAIRS, {(S1, "fr"): F1, (S2, "fr"): S2})
    other = ScriptedTranslator("second-mt", [("en", "fr")], {(S2, "fr"): F2})
    pipeline = pipeline_with({}, translators=[translator, other], summarizer=summarizer)
    plan = pipeline.plan(SummarizeJob(THREE, source_language="en", target_languages=("fr",)))
    [fr] = [e for e in pipeline.run(plan) if isinstance(e, LanguageSummary)]
    assert fr.text == f"{F1} {F2}" and fr.evidence.repaired and fr.evidence.confidence == 1.0
    assert fr.models == ("fake-sum", "mt", "second-mt")
    # Each sentence went alone the first time: only the other route was asked, for the failing one.
    assert [texts for texts, _, _ in translator.calls] == [(S1, S2)]
    assert [texts for texts, _, _ in other.calls] == [(S2,)]
    [first, second] = fr.sentences
    assert fr.text[first.span.start : first.span.end] == F1
    assert fr.text[second.span.start : second.span.end] == F2
    assert [THREE[s.start : s.end] for s in second.sources] == [S2]
    cached = pipeline.cached_events(plan)
    assert cached is not None and cached[1] == dataclasses.replace(fr, duration_ms=0.0)


def test_a_summary_translation_with_no_other_route_stays_flagged():
    base = f"{S1} {S2}"
    summarizer = ScriptedSummarizer(base, languages=("en",))
    translator = ScriptedTranslator("mt", PAIRS, {(S1, "fr"): F1, (S2, "fr"): S2})
    pipeline = pipeline_with({}, translators=[translator], summarizer=summarizer)
    plan = pipeline.plan(SummarizeJob(THREE, source_language="en", target_languages=("fr",)))
    [fr] = [e for e in pipeline.run(plan) if isinstance(e, LanguageSummary)]
    assert fr.text == f"{F1} {S2}" and not fr.evidence.repaired and kinds(fr.evidence) == [K.ECHO]
    assert fr.evidence.repair_attempts == 0 and len(translator.calls) == 1


# --- confidence ----------------------------------------------------------------------------------


def test_confidence_is_certainty_times_check_score():
    assert certainty(None) == 1.0 and certainty(0.0) == 1.0
    assert certainty(math.log(0.5)) == pytest.approx(0.5**CERTAINTY_EXPONENT)
    assert certainty(math.log(0.9)) > certainty(math.log(0.5)) > 0.0
    echo = (Finding(K.ECHO, "copied"),)
    assert evidence_of((), math.log(0.8)).confidence == pytest.approx(0.8**CERTAINTY_EXPONENT)
    assert evidence_of(echo, math.log(0.8)).confidence == pytest.approx(0.8**CERTAINTY_EXPONENT * 0.1)


def test_model_scores_enter_the_confidence_of_summaries_and_translations():
    base = f"{S1} {S2}"
    summarizer = ScriptedSummarizer(base, log_prob=math.log(0.9), languages=("en",))
    script = {(S1, "fr"): F1, (S2, "fr"): F2}  # the summary goes sentence by sentence
    translator = ScriptedTranslator("mt", PAIRS, script, log_prob=math.log(0.8))
    pipeline = pipeline_with({}, translators=[translator], summarizer=summarizer)
    plan = pipeline.plan(SummarizeJob(THREE, source_language="en", target_languages=("en", "fr")))
    en, fr = [e for e in pipeline.run(plan) if isinstance(e, LanguageSummary)]
    x = CERTAINTY_EXPONENT
    assert en.evidence.confidence == pytest.approx(0.9**x) and en.evidence.certainty == pytest.approx(0.9**x)
    assert fr.evidence.confidence == pytest.approx((0.9 * 0.8) ** x)
    # Through English, the two hops' certainties multiply.
    hops = [
        ScriptedTranslator("fr-en", [("fr", "en")], {(F1, "en"): S1}, log_prob=math.log(0.8)),
        ScriptedTranslator("en-de", [("en", "de")], {(S1, "de"): DE1}, log_prob=math.log(0.5)),
    ]
    [item] = (
        pipeline_with({}, translators=hops)
        .translate(TranslateJob((F1,), ("de",), source_language="fr"))
        .items
    )
    assert item.text == DE1 and item.evidence.confidence == pytest.approx(0.4**x)


def test_log_probabilities_combine_by_length_and_across_hops():
    pieces = [ScoredText("a" * 30, -0.1), ScoredText("b" * 10, -0.5), ScoredText("c", None)]
    assert joined_log_prob(pieces) == pytest.approx((30 * -0.1 + 10 * -0.5) / 40)
    assert joined_log_prob([ScoredText("x")]) is None
    assert chained_log_prob(-0.2, -0.3) == pytest.approx(-0.5)
    assert chained_log_prob(None, -0.3) == -0.3 and chained_log_prob(None, None) is None


# --- min_confidence ----------------------------------------------------------------------------


def test_a_summary_below_min_confidence_is_withheld_with_the_reason():
    base = "The harbour authority in Marseille said 340 dockers would return to work next week."
    summarizer = ScriptedSummarizer(base, languages=("en",))
    pipeline = pipeline_with({(base, "fr"): base}, summarizer=summarizer)  # fr: an echo, 0.1
    job = SummarizeJob(
        THREE, source_language="en", target_languages=("en", "fr"), options=SummaryOptions(min_confidence=0.5)
    )
    plan = pipeline.plan(job)
    events = list(pipeline.run(plan))
    assert isinstance(events[1], LanguageSummary) and events[1].language == "en"
    failure = events[2]
    assert isinstance(failure, LanguageFailure) and failure.language == "fr"
    assert isinstance(failure.error, LowConfidenceError)
    assert status_code_for(failure.error) is grpc.StatusCode.FAILED_PRECONDITION
    assert failure.error.reason is Reason.LOW_CONFIDENCE
    assert "confidence 0.100" in failure.error.message and "min_confidence 0.500" in failure.error.message
    assert "French" in failure.error.message
    # The cache keeps the output, not the verdict: a lower threshold gets it back.
    lower = pipeline.plan(SummarizeJob(THREE, source_language="en", target_languages=("en", "fr")))
    cached = pipeline.cached_events(lower)
    assert cached is not None and isinstance(cached[2], LanguageSummary) and cached[2].text == base


def test_translations_below_min_confidence_are_listed_as_failures():
    script = {(S1, "fr"): F1, (S2, "fr"): S2}
    pipeline = pipeline_with(script, attempts=0)
    result = pipeline.translate(
        TranslateJob((S1, S2), ("fr", "en"), source_language="en", min_confidence=0.5)
    )
    assert [(i.text_index, i.language) for i in result.items] == [(0, "fr"), (0, "en"), (1, "en")]
    [failure] = result.failures
    assert (failure.text_index, failure.language) == (1, "fr")
    assert isinstance(failure.error, LowConfidenceError) and "texts[1]" in failure.error.message


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_min_confidence_out_of_range_is_refused(value):
    pipeline = pipeline_with({})
    with pytest.raises(InvalidInputError) as summarize_error:
        pipeline.plan(SummarizeJob(S1, options=SummaryOptions(min_confidence=value)))
    assert summarize_error.value.field == "options.min_confidence"
    assert summarize_error.value.reason is Reason.OUT_OF_RANGE
    with pytest.raises(InvalidInputError) as translate_error:
        pipeline.translate(TranslateJob((S1,), ("fr",), min_confidence=value))
    assert translate_error.value.field == "min_confidence"
    assert translate_error.value.reason is Reason.OUT_OF_RANGE


# --- protobuf ------------------------------------------------------------------------------------


def test_issue_kinds_mirror_finding_kinds():
    names = {name for name in pb.IssueKind.keys() if name != "ISSUE_KIND_UNSPECIFIED"}
    assert names == {f"ISSUE_KIND_{kind.value}" for kind in FindingKind}


def test_evidence_round_trips_through_protobuf():
    evidence = Evidence(
        (
            Finding(K.NUMBER_ALTERED, "'430' where the source has '340'", (57, 60)),
            Finding(K.NAME_MISSING, "the source's 'Marseille' is not in the output", (25, 34), True),
            Finding(K.OMISSION, "the output is 40% of the length its source would need"),
        ),
        0.25,
        True,
    )
    event = LanguageSummary("fr", "texte", ("m",), "en", 1.0, evidence=evidence)
    message = pb.Summary.FromString(convert.summary(event).SerializeToString())
    assert message.confidence == pytest.approx(0.25) and message.repaired
    kinds_sent = [pb.IssueKind.Name(i.kind) for i in message.issues]
    assert kinds_sent == ["ISSUE_KIND_NUMBER_ALTERED", "ISSUE_KIND_NAME_MISSING", "ISSUE_KIND_OMISSION"]
    assert (message.issues[0].span.start, message.issues[0].span.end) == (57, 60)
    assert message.issues[1].in_source and not message.issues[0].in_source
    assert not message.issues[2].HasField("span")
    # And back into the client's types.
    summary = client_convert.summary(message)
    assert [i.kind for i in summary.issues] == ["NUMBER_ALTERED", "NAME_MISSING", "OMISSION"]
    assert summary.issues[2].span is None and summary.issues[1].in_source and summary.repaired
    assert summary.confidence == pytest.approx(0.25)


def test_min_confidence_and_withheld_translations_cross_the_api():
    request = pb.SummarizeRequest(text="x", options=pb.SummaryOptions(min_confidence=0.75))
    assert convert.summarize_job(request, "r").options.min_confidence == pytest.approx(0.75)
    translate = pb.TranslateRequest(texts=["x"], target_languages=["fr"], min_confidence=0.5)
    assert convert.translate_job(translate, "r").min_confidence == pytest.approx(0.5)
    error = LowConfidenceError("the French ('fr') translation of texts[0]", 0.2, 0.5)
    result = TranslateResult(
        source=pipeline_with({}).translate(TranslateJob((S1,), ("en",), source_language="en")).source,
        items=(TranslationItem(0, "de", "Text", ("m",), evidence=Evidence((), 0.9, False)),),
        failures=(TranslationFailure(0, "fr", error),),
    )
    response = pb.TranslateResponse.FromString(
        convert.translate_response("r", result, 1.0).SerializeToString()
    )
    assert response.translations[0].confidence == pytest.approx(0.9)
    [failure] = response.failures
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and failure.text_index == 0
    assert failure.message == error.message
    client_result = client_convert.translate_result(response)
    assert client_result.failures[0].code is grpc.StatusCode.FAILED_PRECONDITION
    status = rich_status(error, "r")
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
