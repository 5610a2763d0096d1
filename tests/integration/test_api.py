"""Every RPC against a real gRPC server on 127.0.0.1:0 backed by fake models."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import FakeSummarizer, fake_pipeline
from tests.integration.conftest import ServerThread, server_settings

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
EN = (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")
ZH = next(SEEDS.glob("zh_*.txt")).read_text(encoding="utf-8")
SERVICE = "summarizer.v1.SummarizerService"


def details_of(error: grpc.RpcError):
    status = rpc_status.from_call(error)
    found = {}
    for item in status.details if status else ():
        for kind in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo):
            if item.Is(kind.DESCRIPTOR):
                message = kind()
                item.Unpack(message)
                found[kind.__name__] = message
    return found


def test_summarize_returns_every_language_in_order(stub):
    response, call = stub.Summarize.with_call(
        pb.SummarizeRequest(text=EN, target_languages=["de", "en", "fr"], request_id="req-42"), timeout=30
    )
    assert response.request_id == "req-42"
    assert ("x-request-id", "req-42") in call.trailing_metadata()
    assert response.source_language.language == "en" and response.source_language.confidence > 0.9
    assert [s.language for s in response.summaries] == ["de", "en", "fr"]
    en = response.summaries[1]
    assert (
        en.text.startswith("fake-sum[en]:") and list(en.models) == ["fake-sum"] and en.translated_from == ""
    )
    assert response.summaries[0].text == f"de({en.text})" and response.summaries[0].translated_from == "en"
    assert response.total_duration_ms > 0 and not response.failures


def test_stream_sends_source_first_then_each_language(stub):
    events = list(
        stub.StreamSummarize(pb.StreamSummarizeRequest(text=EN, target_languages=["es", "en"]), timeout=30)
    )
    assert events[0].WhichOneof("event") == "source_language"
    assert [e.summary.language for e in events[1:]] == ["en", "es"]
    assert len({e.request_id for e in events}) == 1 and events[0].request_id


def test_extractive_spans_point_into_the_text(stub):
    response = stub.Summarize(
        pb.SummarizeRequest(
            text=ZH, options=pb.SummaryOptions(mode=pb.SUMMARY_MODE_EXTRACTIVE, max_sentences=2)
        ),
        timeout=30,
    )
    summary = response.summaries[0]
    assert response.source_language.language == "zh" and len(summary.spans) == 2
    assert "".join(ZH[s.start : s.end] for s in summary.spans) == summary.text


def test_translate_detect_and_list_models(stub):
    response = stub.Translate(
        pb.TranslateRequest(texts=["Good morning.", "See you tomorrow."], target_languages=["fr", "de"]),
        timeout=30,
    )
    assert [(t.text_index, t.language, t.text) for t in response.translations] == [
        (0, "fr", "fr(Good morning.)"),
        (0, "de", "de(Good morning.)"),
        (1, "fr", "fr(See you tomorrow.)"),
        (1, "de", "de(See you tomorrow.)"),
    ]
    detected = stub.DetectLanguage(pb.DetectLanguageRequest(text=ZH), timeout=10)
    assert detected.language.language == "zh" and detected.candidates[0].language == "zh"
    models = stub.ListModels(pb.ListModelsRequest(), timeout=10)
    assert models.profile == "fake"
    assert {m.name for m in models.models} == {"fake-sum", "fake-mt", "textrank"}
    textrank = next(m for m in models.models if m.name == "textrank")
    assert textrank.any_language and list(textrank.tasks) == [pb.MODEL_TASK_SUMMARIZE]
    assert "zh" in models.languages


@pytest.mark.parametrize(
    ("request_", "field", "reason"),
    [
        (pb.SummarizeRequest(text=""), "text", "EMPTY_TEXT"),
        (pb.SummarizeRequest(text=" \n\t "), "text", "EMPTY_TEXT"),
        (pb.SummarizeRequest(text="x " * 15_000), "text", "TEXT_TOO_LONG"),
        (pb.SummarizeRequest(text="1234 5678 90 😀"), "text", "UNDETERMINED_LANGUAGE"),
        (pb.SummarizeRequest(text=EN, source_language="not a tag"), "source_language", "BAD_TAG"),
        (pb.SummarizeRequest(text=EN, source_language="sw"), "source_language", "UNSUPPORTED_LANGUAGE"),
        (
            pb.SummarizeRequest(text=EN, target_languages=["fr", "tlh"]),
            "target_languages[1]",
            "UNSUPPORTED_LANGUAGE",
        ),
        (
            pb.SummarizeRequest(text=EN, target_languages=["fr", "FR"]),
            "target_languages[1]",
            "DUPLICATE_LANGUAGE",
        ),
        (
            pb.SummarizeRequest(text=EN, options=pb.SummaryOptions(max_tokens=4096)),
            "options.max_tokens",
            "OUT_OF_RANGE",
        ),
        (
            pb.SummarizeRequest(text=EN, options=pb.SummaryOptions(num_beams=20)),
            "options.num_beams",
            "OUT_OF_RANGE",
        ),
        (pb.SummarizeRequest(text=EN, options=pb.SummaryOptions(mode=7)), "options.mode", "UNKNOWN_ENUM"),
        (pb.SummarizeRequest(text=EN, request_id="has spaces in it"), "request_id", "INVALID_ARGUMENT"),
    ],
)
def test_bad_summarize_input_is_invalid_argument_naming_the_field(stub, request_, field, reason):
    with pytest.raises(grpc.RpcError) as info:
        stub.Summarize(request_, timeout=10)
    error = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:")
    found = details_of(error)
    assert found["BadRequest"].field_violations[0].field == field
    assert found["ErrorInfo"].reason == reason and found["ErrorInfo"].domain == "summarizer.v1"


def test_bad_input_on_the_stream_and_other_rpcs(stub):
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamSummarize(pb.StreamSummarizeRequest(text=""), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for call, request_ in (
        (stub.Translate, pb.TranslateRequest(texts=[], target_languages=["fr"])),
        (stub.Translate, pb.TranslateRequest(texts=["hello there"], target_languages=[])),
        (stub.Translate, pb.TranslateRequest(texts=["hello there friend"], target_languages=["xx"])),
        (stub.DetectLanguage, pb.DetectLanguageRequest(text="")),
        (stub.DetectLanguage, pb.DetectLanguageRequest(text="42 + 17 = 59")),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call(request_, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request_


def test_message_over_the_receive_limit_is_refused(fake_server):
    with grpc.insecure_channel(fake_server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Summarize(pb.SummarizeRequest(text="a" * (5 * 1024 * 1024)), timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_reflection_lists_the_services(fake_server):
    with grpc.insecure_channel(fake_server.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {SERVICE, "grpc.health.v1.Health"} <= services
        described = database.FindFileContainingSymbol(SERVICE)
        assert described.package == "summarizer.v1"


def test_health_is_not_serving_until_the_pipeline_is_attached():
    server = ServerThread(server_settings(), None)
    try:
        with grpc.insecure_channel(server.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = pb_grpc.SummarizerServiceStub(channel)
            for name in ("", SERVICE):
                status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
                assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as info:
                stub.Summarize(pb.SummarizeRequest(text=EN), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            server.set_serving(fake_pipeline())
            status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
            assert stub.Summarize(pb.SummarizeRequest(text=EN), timeout=10).summaries
    finally:
        server.stop()


def test_graceful_stop_finishes_in_flight_calls_and_refuses_new_ones():
    slow = FakeSummarizer(languages=("en",), delay_s=1.5)
    server = ServerThread(server_settings(), fake_pipeline(summarizer=slow))
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        result = {}

        def call():
            try:
                result["response"] = stub.Summarize(pb.SummarizeRequest(text=EN), timeout=30)
            except grpc.RpcError as exc:
                result["error"] = exc

        worker = threading.Thread(target=call)
        worker.start()
        while not slow.calls:
            time.sleep(0.01)
        stopping = threading.Thread(target=server.stop, kwargs={"grace": 10})
        stopping.start()
        time.sleep(0.3)
        # Health watchers see NOT_SERVING; new calls are refused while the old one drains.
        with pytest.raises(grpc.RpcError) as info:
            stub.Summarize(pb.SummarizeRequest(text=EN), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        worker.join(timeout=30)
        stopping.join(timeout=30)
        assert "response" in result, result.get("error")
        assert result["response"].summaries[0].text.startswith("fake-sum[en]:")
        del health


def test_deadline_stops_the_model_work():
    slow = FakeSummarizer(languages=("en",), delay_s=60)
    server = ServerThread(server_settings(), fake_pipeline(summarizer=slow))
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as info:
                stub.Summarize(pb.SummarizeRequest(text=EN), timeout=0.3)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The model thread is free again long before the fake's 60 s would have elapsed.
            response = stub.DetectLanguage(pb.DetectLanguageRequest(text=EN), timeout=5)
            assert response.language.language == "en"
            slow.delay_s = 0
            assert stub.Summarize(pb.SummarizeRequest(text=EN), timeout=5).summaries
            assert time.monotonic() - started < 30  # seconds on a crowded machine, not the fake's minute
    finally:
        server.stop()
