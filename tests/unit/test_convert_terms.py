"""api/convert.py for terminology, term reports and grounded sentences, through the wire format."""

from __future__ import annotations

import pytest

from service.api import convert
from service.models.base import Span
from service.pipeline import (
    LanguageSummary,
    SourceLanguage,
    SummarySentence,
    TranslateResult,
    TranslationItem,
)
from service.text.terminology import GlossaryEntry, Terminology, TermReport
from summarizer.v1 import summarizer_service_pb2 as pb

TERMINOLOGY = pb.Terminology(
    entries=[
        pb.GlossaryEntry(source="Kiev", target="Kyjiw", target_language="de"),
        pb.GlossaryEntry(source="Kiev", target="Kyiv", target_language="en-GB"),
    ],
    keep=["Airbus A320neo"],
)


@pytest.mark.parametrize("kind", [pb.SummarizeRequest, pb.StreamSummarizeRequest])
def test_a_summarize_request_carries_its_terminology_as_sent(kind):
    wire = kind(text="Officials in Kiev.", terminology=TERMINOLOGY).SerializeToString()
    job = convert.summarize_job(kind.FromString(wire), "req-1")
    assert job.terminology == Terminology(
        (GlossaryEntry("Kiev", "Kyjiw", "de"), GlossaryEntry("Kiev", "Kyiv", "en-GB")), ("Airbus A320neo",)
    )
    assert not convert.summarize_job(kind(text="x"), "req-2").terminology


def test_a_translate_request_carries_its_terminology():
    request = pb.TranslateRequest(texts=["Kiev"], target_languages=["de"], terminology=TERMINOLOGY)
    job = convert.translate_job(pb.TranslateRequest.FromString(request.SerializeToString()), "req-1")
    assert job.terminology.keep == ("Airbus A320neo",) and len(job.terminology.entries) == 2


def test_a_summary_carries_its_term_reports_and_grounded_sentences():
    event = LanguageSummary(
        "de",
        "Beamte in Kyjiw. Erfunden.",
        ("fake-sum", "fake-mt"),
        "en",
        terms=(TermReport("Kiev", "Kyjiw", True), TermReport("Airbus A320neo", "Airbus A320neo", False)),
        sentences=(
            SummarySentence(Span(0, 16), (Span(3, 40), Span(90, 130)), 0.8125, False),
            SummarySentence(Span(17, 26), (), 0.0, True),
        ),
    )
    message = pb.Summary.FromString(convert.summary(event).SerializeToString())
    assert [(t.term, t.expected, t.applied) for t in message.terms] == [
        ("Kiev", "Kyjiw", True),
        ("Airbus A320neo", "Airbus A320neo", False),
    ]
    first, second = message.sentences
    assert (first.span.start, first.span.end) == (0, 16)
    assert [(s.start, s.end) for s in first.source_spans] == [(3, 40), (90, 130)]
    assert first.support == pytest.approx(0.8125) and not first.unsupported
    assert second.unsupported and not second.source_spans


def test_a_translation_carries_its_term_reports():
    result = TranslateResult(
        SourceLanguage("en", 1.0, True),
        (TranslationItem(0, "de", "Beamte in Kyjiw.", ("fake-mt",), (TermReport("Kiev", "Kyjiw", True),)),),
    )
    response = pb.TranslateResponse.FromString(
        convert.translate_response("req-1", result, 1.0).SerializeToString()
    )
    [item] = response.translations
    assert [(t.term, t.expected, t.applied) for t in item.terms] == [("Kiev", "Kyjiw", True)]
