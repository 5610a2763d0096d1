"""Reporting the source language: texts that mix languages, and declared languages that contradict
the text. The detector, the pipeline, and the gRPC API (an in-process server on fake models)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from service.pipeline import SourceLanguage, SummarizeJob, TranslateJob
from service.text.detect import MIXED_MIN_SHARE, LanguageDetector, LanguageShare, describe_shares
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import fake_pipeline
from tests.integration.conftest import ServerThread, server_settings

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
EN = (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")


def seed(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


EN_PARAS = paragraphs(EN)
FR_PARAS = paragraphs(seed("fr"))
# About three fifths English, two fifths French, one language per paragraph.
EN_FR = "\n\n".join(EN_PARAS[:4] + FR_PARAS[:3])
# Alternating sentences inside one paragraph.
SENTENCE_MIX = " ".join(
    [
        "The minister arrived in Lyon on Monday morning for a two-day visit.",
        "Il a rencontré les élus de la région pendant plus de deux heures.",
        "They discussed road repairs, school budgets and the new hospital.",
        "Les deux parties ont promis de se revoir avant la fin de l'année.",
    ]
    * 3
)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def shares_of(shares: tuple[LanguageShare, ...]) -> dict[str, float]:
    return {s.language: s.share for s in shares}


# -- the detector -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_single_language_articles_are_not_mixed(detector, path):
    """Headlines and short quotes in the seeds must not read as a second language."""
    detection = detector.detect(path.read_text(encoding="utf-8"))
    assert detection.mixed == ()
    assert detection.confidence > 0.95


def test_paragraphs_in_two_languages_are_reported_with_their_shares(detector):
    detection = detector.detect(EN_FR)
    shares = shares_of(detection.mixed)
    assert set(shares) == {"en", "fr"}
    assert 0.5 < shares["en"] < 0.7 and 0.3 < shares["fr"] < 0.5
    assert sum(shares.values()) <= 1.0 + 1e-9
    # The main language is the one most letters are in, however distinctive the other one reads.
    assert (detection.language, detection.confidence) == ("en", shares["en"])
    assert detection.candidates[0] == ("en", shares["en"]) and detection.candidates[1][0] == "fr"


def test_alternating_sentences_inside_a_paragraph_are_a_mix(detector):
    detection = detector.detect(SENTENCE_MIX)
    assert set(shares_of(detection.mixed)) == {"en", "fr"}


@pytest.mark.parametrize(
    ("first", "second"), [("000", "zh"), ("de", "ru"), ("es", "ar")], ids=["en+zh", "de+ru", "es+ar"]
)
def test_mixes_across_scripts(detector, first, second):
    a = paragraphs(EN if first == "000" else seed(first))
    b = paragraphs(seed(second))
    text = "\n\n".join(x for pair in zip(a[:4], b[:3], strict=False) for x in pair)
    shares = shares_of(detector.detect(text).mixed)
    expected = {"en" if first == "000" else first, second}
    assert set(shares) == expected and all(s >= MIXED_MIN_SHARE for s in shares.values())


def test_a_small_passage_in_another_language_is_not_a_mix(detector):
    text = "\n\n".join([*EN_PARAS, FR_PARAS[1]])
    shares = shares_of(detector.language_shares(text))
    assert 0 < shares["fr"] < MIXED_MIN_SHARE  # measured, but under the threshold
    detection = detector.detect(text)
    assert detection.mixed == () and detection.language == "en" and detection.confidence > 0.95


def test_describe_shares_names_each_language():
    text = describe_shares((LanguageShare("en", 0.584), LanguageShare("fr", 0.416)))
    assert text == "English ('en') 58%, French ('fr') 42%"


# -- the pipeline -------------------------------------------------------------------------------


def source_of(job: SummarizeJob) -> SourceLanguage:
    pipeline = fake_pipeline()
    return next(pipeline.run(pipeline.plan(job)))  # type: ignore[return-value]


def test_a_mixed_article_is_summarized_with_a_warning_and_its_shares():
    source = source_of(SummarizeJob(EN_FR))
    assert source.language == "en" and not source.declared
    assert set(shares_of(source.mixed)) == {"en", "fr"}
    [warning] = source.warnings  # the mix, and not also an "uncertain detection" note
    assert "mixes languages" in warning and "English ('en')" in warning and "French ('fr')" in warning


def test_a_declared_language_does_not_hide_the_mix():
    source = source_of(SummarizeJob(EN_FR, source_language="en"))
    assert (source.language, source.confidence, source.declared) == ("en", 1.0, True)
    assert set(shares_of(source.mixed)) == {"en", "fr"}
    assert any("mixes languages" in w for w in source.warnings)


def test_a_single_language_article_has_no_mix_and_no_warning():
    source = source_of(SummarizeJob(EN))
    assert source.mixed == () and source.warnings == ()


def test_translate_reports_the_mix_of_its_texts_too():
    result = fake_pipeline().translate(TranslateJob((EN_FR,), ("de",)))
    assert set(shares_of(result.source.mixed)) == {"en", "fr"}


# -- through the gRPC API -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stub() -> Iterator[pb_grpc.SummarizerServiceStub]:
    server = ServerThread(server_settings(), fake_pipeline())
    try:
        with grpc.insecure_channel(server.target) as channel:
            yield pb_grpc.SummarizerServiceStub(channel)
    finally:
        server.stop()
        server.loop.close()  # its sockets too: no ResourceWarning when it is collected


def mixed_of(message: pb.DetectedLanguage) -> dict[str, float]:
    return {s.language: s.share for s in message.mixed}


@pytest.mark.integration
def test_summarize_reports_the_mix_as_data_and_as_a_warning(stub):
    response = stub.Summarize(pb.SummarizeRequest(text=EN_FR, target_languages=["en"]), timeout=30)
    source = response.source_language
    assert source.language == "en" and not source.declared
    shares = mixed_of(source)
    assert set(shares) == {"en", "fr"} and shares["en"] > shares["fr"] >= MIXED_MIN_SHARE
    assert [m.language for m in source.mixed] == ["en", "fr"]  # largest share first
    assert source.confidence == pytest.approx(shares["en"])
    assert any("mixes languages" in w for w in response.warnings)
    assert len(response.summaries) == 1


@pytest.mark.integration
def test_the_stream_reports_the_mix_on_its_first_message(stub):
    first = next(iter(stub.StreamSummarize(pb.StreamSummarizeRequest(text=SENTENCE_MIX), timeout=30)))
    assert first.WhichOneof("event") == "source_language"
    assert set(mixed_of(first.source_language)) == {"en", "fr"}
    assert any("mixes languages" in w for w in first.warnings)


@pytest.mark.integration
def test_detect_language_reports_the_mix(stub):
    mixed = stub.DetectLanguage(pb.DetectLanguageRequest(text=EN_FR), timeout=10)
    assert set(mixed_of(mixed.language)) == {"en", "fr"}
    assert [c.language for c in mixed.candidates][:2] == ["en", "fr"]
    single = stub.DetectLanguage(pb.DetectLanguageRequest(text=EN), timeout=10)
    assert single.language.language == "en" and not single.language.mixed


@pytest.mark.integration
def test_single_language_article_has_no_mix_over_the_api(stub):
    response = stub.Summarize(pb.SummarizeRequest(text=EN), timeout=30)
    assert not response.source_language.mixed and not response.warnings


@pytest.mark.integration
def test_a_declared_language_contradicting_the_text_is_obeyed_with_a_warning(stub):
    response = stub.Summarize(pb.SummarizeRequest(text=EN, source_language="fr"), timeout=30)
    source = response.source_language
    assert (source.language, source.declared) == ("fr", True)
    assert source.confidence == pytest.approx(1.0)
    [warning] = response.warnings
    assert "source_language is 'fr'" in warning and "looks like 'en'" in warning
    assert response.summaries[0].language == "fr"
    stream = stub.StreamSummarize(pb.StreamSummarizeRequest(text=EN, source_language="fr"), timeout=30)
    first = next(iter(stream))
    assert first.source_language.declared and any("looks like 'en'" in w for w in first.warnings)
    stream.cancel()


@pytest.mark.integration
def test_a_declared_language_that_agrees_with_the_text_has_no_warning(stub):
    response = stub.Summarize(pb.SummarizeRequest(text=EN, source_language="en-GB"), timeout=30)
    assert response.source_language.language == "en" and response.source_language.declared
    assert not response.warnings
