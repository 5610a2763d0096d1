"""Terminology, grounded sentences and HTML main content through the real service on the tiny profile.

One Summarize call on SmolLM2-135M (real weights, slow): an HTML page in, English and French out.
SmolLM2 writes poor French; what is checked is what the service promises whatever the model writes.
"""

from __future__ import annotations

import grpc
import pytest

from service.text.html import article_text
from service.text.sentences import split_sentences
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.integration.conftest import ServerProcess
from tests.integration.test_process import wait_serving

pytestmark = [pytest.mark.integration, pytest.mark.models, pytest.mark.slow]

PARAGRAPHS = [
    "Dock workers in Marseille returned to work on Thursday after unions and port operators agreed on a "
    "new wage deal worth 4.5 percent over two years.",
    "The strike had halted container traffic at the port since Monday, leaving more than 40 ships waiting "
    "at anchor in the bay and delaying deliveries across southern France.",
    "Port director Jean Martin said operations would be back to normal by the weekend, and that the "
    "backlog of ships should clear within five days.",
]
PAGE = (
    "<html><head><title>Port strike ends</title></head><body>"
    '<div class="cookie-consent"><p>We use cookies to improve your experience.</p>'
    "<button>Accept all cookies</button></div>"
    '<nav><a href="/">Home</a> <a href="/sport">Sport</a></nav>'
    "<article><h1>Port strike ends after three days of talks</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article><footer><p>© 2024 Example News. All rights reserved.</p></footer></body></html>"
)


@pytest.fixture(scope="module")
def tiny_target(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("tiny-grounding"), "--profile", "tiny")
    try:
        target = server.wait_port()
        wait_serving(target)
        yield target
    finally:
        assert server.terminate() == 0, server.output()


@pytest.mark.timeout(900)  # a shared two-core machine under load takes minutes over one call
def test_an_html_article_summarized_with_terms_and_grounded_sentences(tiny_target):
    request = pb.SummarizeRequest(
        text=PAGE,
        input_format=pb.INPUT_FORMAT_HTML,
        source_language="en",
        target_languages=["en", "fr"],
        options=pb.SummaryOptions(length=pb.LENGTH_PRESET_SHORT),
        terminology=pb.Terminology(
            entries=[pb.GlossaryEntry(source="Dock workers", target="dockers", target_language="fr")],
            keep=["Marseille", "Jean Martin"],
        ),
    )
    with grpc.insecure_channel(tiny_target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        response = stub.Summarize(request, timeout=600)
        models = stub.ListModels(pb.ListModelsRequest(), timeout=30).models

    honours = {m.backend: m.honours_terminology for m in models}
    assert honours == {"llm": True, "extractive": False}

    assert not response.failures
    en, fr = response.summaries
    assert (en.language, fr.language, fr.translated_from) == ("en", "fr", "en")
    text = article_text(PAGE)
    assert "cookies" not in text and "rights reserved" not in text

    # Every sentence of the English summary is located in it, and its sources are sentences of the
    # article's main content (HTML spans index the text after markup removal).
    article_sentences = {s.text for s in split_sentences(text, "en")}
    assert en.sentences
    for sentence in en.sentences:
        assert en.text[sentence.span.start : sentence.span.end].strip()
        assert 0.0 <= sentence.support <= 1.0 and sentence.unsupported == (sentence.support < 0.4)
        assert {text[s.start : s.end] for s in sentence.source_spans} <= article_sentences
    # The French summary was translated sentence by sentence: the same sources, sentence for sentence.
    assert [list(s.source_spans) for s in fr.sentences] == [list(s.source_spans) for s in en.sentences]

    # Each summary reports the terms of the text it was made from, applied or not, as its text shows.
    assert {t.term for t in en.terms} == {"Marseille", "Jean Martin"}
    for summary in (en, fr):
        for report in summary.terms:
            assert not report.applied or report.expected.lower() in summary.text.lower()
