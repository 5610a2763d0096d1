"""A real CTranslate2 model behind a real server reports its batches and tokens to /metrics and to spans.

A tiny Marian model (built by the tests, converted once) translates the summary of a fake summarizer,
so that the call goes from the servicer through the runner's worker thread into the model's batcher:
what reaches the metrics and the call's span shows that the call's observer travelled all the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

pytest.importorskip("ctranslate2")
pytest.importorskip("transformers")

from service.models.base import TRANSLATE, LoadContext, ModelSpec  # noqa: E402
from service.models.extractive import ExtractiveSummarizer  # noqa: E402
from service.models.seq2seq import Seq2SeqModel  # noqa: E402
from service.pipeline import SummarizationPipeline  # noqa: E402
from service.text.detect import LanguageDetector  # noqa: E402
from summarizer.v1 import summarizer_service_pb2 as pb  # noqa: E402
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc  # noqa: E402
from tests.fakes import FakeSummarizer  # noqa: E402
from tests.integration.conftest import ServerThread, server_settings  # noqa: E402
from tests.observing import (  # noqa: E402
    TRACEPARENT,
    TraceReceiver,
    free_port,
    scrape,
    span_attributes,
    trace_receiver,
    value,
)

pytestmark = [
    pytest.mark.models,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses:UserWarning"),
    pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning"),
]

TEXT = (
    "The senior delegation arrived in Damascus on Monday and met the president. "
    "Officials discussed the military situation in the north of the country."
)


@pytest.fixture()
def receiver() -> Iterator[tuple[TraceReceiver, int]]:
    with trace_receiver() as running:
        yield running


def test_batches_and_tokens_of_a_real_model_reach_metrics_and_spans(
    marian_dir: Path, model_cache: Path, receiver: tuple[TraceReceiver, int]
) -> None:
    collector, otlp_port = receiver
    marian = Seq2SeqModel(
        ModelSpec(
            name="tiny-marian",
            backend="seq2seq",
            source=str(marian_dir),
            tasks=(TRANSLATE,),
            pairs=(("en", "de"),),
        ),
        LoadContext(cache_dir=model_cache, threads=1, runtime="ctranslate2", offline=True),
    )
    pipeline = SummarizationPipeline(
        profile="tiny-test",
        detector=LanguageDetector(),
        summarizers=[FakeSummarizer(languages=("en",))],
        translators=[marian],
        extractive=ExtractiveSummarizer(ModelSpec(name="textrank", backend="extractive")),
    )
    metrics_port = free_port()
    settings = server_settings(metrics_port=metrics_port, otlp_endpoint=f"http://127.0.0.1:{otlp_port}")
    server = ServerThread(settings, pipeline)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            request = pb.StreamSummarizeRequest(
                text=TEXT,
                source_language="en",
                target_languages=["de"],
                options=pb.SummaryOptions(max_tokens=8),
            )
            events = list(stub.StreamSummarize(request, timeout=120, metadata=[("traceparent", TRACEPARENT)]))
        assert events[-1].summary.language == "de" and events[-1].summary.models == [
            "fake-sum",
            "tiny-marian",
        ]
        samples = scrape(metrics_port)
        tracing = server.server.observability.tracing
        assert tracing is not None and tracing.force_flush()
    finally:
        server.stop(grace=0)

    assert value(samples, "summarizer_batch_rows_count", model="tiny-marian") >= 1
    assert value(samples, "summarizer_batch_rows_sum", model="tiny-marian") >= 1
    input_tokens = value(samples, "summarizer_input_tokens_total", model="tiny-marian")
    generated = value(samples, "summarizer_generated_tokens_total", model="tiny-marian")
    assert input_tokens > 0 and generated > 0
    labels = {"profile": "tiny-test", "model": "tiny-marian", "backend": "seq2seq", "runtime": "ctranslate2"}
    assert value(samples, "summarizer_model_info", device="cpu", **labels) == 1

    spans = {span.name: span for span in collector.spans}
    german = span_attributes(spans["language de"])
    # The model's own count of this call's tokens, on the span of the language it made.
    assert german["summarizer.input_tokens"] == input_tokens
    assert german["summarizer.output_tokens"] == generated
    assert span_attributes(spans["translate"])["summarizer.runtimes"] == ["ctranslate2"]
    call = span_attributes(spans["summarizer.v1.SummarizerService/StreamSummarize"])
    assert call["summarizer.input_tokens"] == input_tokens
