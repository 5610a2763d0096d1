"""Issues, confidence and min_confidence over gRPC, against a real server on 127.0.0.1:0 with fake models.

The fake translator writes "<target>(text)": the text copied, which the checks report as an echo.
"""

from __future__ import annotations

import grpc
import pytest

from summarizer.v1 import summarizer_service_pb2 as pb
from tests.integration.test_api import EN, details_of

pytestmark = pytest.mark.integration


def test_summaries_carry_their_issues_and_confidence(stub):
    response = stub.Summarize(pb.SummarizeRequest(text=EN, target_languages=["en", "de"]), timeout=30)
    en, de = response.summaries
    assert not en.issues and en.confidence == pytest.approx(1.0) and not en.repaired
    assert [pb.IssueKind.Name(i.kind) for i in de.issues] == ["ISSUE_KIND_ECHO"]
    assert "copied" in de.issues[0].detail and not de.issues[0].in_source
    assert (de.issues[0].span.start, de.issues[0].span.end) == (0, len(de.text))
    assert 0.0 < de.confidence < 0.5


def test_a_language_below_min_confidence_is_a_failure_with_the_reason(stub):
    response = stub.Summarize(
        pb.SummarizeRequest(
            text=EN, target_languages=["en", "de"], options=pb.SummaryOptions(min_confidence=0.5)
        ),
        timeout=30,
    )
    assert [s.language for s in response.summaries] == ["en"]
    [failure] = response.failures
    assert failure.language == "de" and failure.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert "is below min_confidence 0.500" in failure.message


def test_every_language_withheld_fails_the_call(stub):
    with pytest.raises(grpc.RpcError) as caught:
        stub.Summarize(
            pb.SummarizeRequest(
                text=EN, target_languages=["de"], options=pb.SummaryOptions(min_confidence=0.9)
            ),
            timeout=30,
        )
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(caught.value)["ErrorInfo"].reason == "LOW_CONFIDENCE"


def test_translations_below_min_confidence_come_back_as_failures(stub):
    response = stub.Translate(
        pb.TranslateRequest(
            texts=["Good morning to everyone in the room.", "See you all tomorrow at the meeting."],
            source_language="en",
            target_languages=["en", "fr"],
            min_confidence=0.5,
        ),
        timeout=30,
    )
    assert [(t.text_index, t.language) for t in response.translations] == [(0, "en"), (1, "en")]
    assert all(t.confidence == pytest.approx(1.0) for t in response.translations)
    assert [(f.text_index, f.language) for f in response.failures] == [(0, "fr"), (1, "fr")]
    assert all(f.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] for f in response.failures)


@pytest.mark.parametrize("value", [-0.5, 1.01])
def test_min_confidence_out_of_range_is_invalid(stub, value):
    with pytest.raises(grpc.RpcError) as summarize:
        stub.Summarize(
            pb.SummarizeRequest(text=EN, options=pb.SummaryOptions(min_confidence=value)), timeout=30
        )
    assert summarize.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = details_of(summarize.value)
    assert details["ErrorInfo"].reason == "OUT_OF_RANGE"
    assert details["BadRequest"].field_violations[0].field == "options.min_confidence"
    with pytest.raises(grpc.RpcError) as translate:
        stub.Translate(
            pb.TranslateRequest(texts=[EN], target_languages=["fr"], min_confidence=value), timeout=30
        )
    assert translate.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(translate.value)["BadRequest"].field_violations[0].field == "min_confidence"
