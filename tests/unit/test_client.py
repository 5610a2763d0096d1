"""summarizer_client against a fake servicer on an in-process server bound to 127.0.0.1.

The fake returns canned answers and records what it received, so these tests cover the
client's side only: request and response mapping, deadlines, metadata, error translation,
streaming and the command line.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from summarizer_client import (
    DeadlineExceededError,
    DetectedLanguage,
    Detection,
    InvalidArgumentError,
    LanguageFailed,
    LanguageFailure,
    LanguagePair,
    LanguageScore,
    LanguageSummary,
    ModelInfo,
    ModelsInfo,
    ResourceExhaustedError,
    SourceLanguage,
    SummarizerClient,
    SummarizerClientError,
    SummarizeResult,
    Summary,
    TextSpan,
    TranslateResult,
    Translation,
    UnavailableError,
)
from summarizer_client.cli import main

ARTICLE = "Rain fell on Paris on Monday. The Seine rose by a metre."


def at_most(seconds: float) -> float:
    """The most time left a server may see for a `seconds` deadline.

    gRPC rounds a timeout up to a coarser unit when it encodes it (by up to a second at
    300 s), and the two sides read their clocks at different moments.
    """
    return seconds * 1.01 + 0.5


# -- canned answers ------------------------------------------------------------------------

SOURCE_EN = pb.DetectedLanguage(language="en", confidence=0.98)
SUMMARY_EN = pb.Summary(
    language="en",
    text="Rain fell on Paris.",
    models=["qwen2.5-1.5b-instruct"],
    duration_ms=4100.0,
    spans=[pb.TextSpan(start=0, end=29), pb.TextSpan(start=30, end=56)],
)
SUMMARY_FR = pb.Summary(
    language="fr",
    text="Il a plu sur Paris.",
    models=["qwen2.5-1.5b-instruct", "opus-mt-en-fr"],
    translated_from="en",
    duration_ms=12345.0,
)
FAILURE_DE = pb.LanguageFailure(language="de", code=13, message="translator crashed")

SUMMARIZE_RESPONSE = pb.SummarizeResponse(
    request_id="req-42",
    source_language=SOURCE_EN,
    summaries=[SUMMARY_EN, SUMMARY_FR],
    failures=[FAILURE_DE],
    total_duration_ms=16500.0,
    warnings=["declared language fr contradicts detected en"],
)
STREAM_RESPONSES = [
    pb.StreamSummarizeResponse(request_id="req-42", source_language=SOURCE_EN, warnings=["a note"]),
    pb.StreamSummarizeResponse(request_id="req-42", summary=SUMMARY_EN),
    pb.StreamSummarizeResponse(request_id="req-42", summary=SUMMARY_FR),
    pb.StreamSummarizeResponse(request_id="req-42", failure=FAILURE_DE),
]
TRANSLATE_RESPONSE = pb.TranslateResponse(
    request_id="req-t",
    source_language=pb.DetectedLanguage(language="en", confidence=1.0, declared=True),
    translations=[
        pb.Translation(text_index=0, language="fr", text="Bonjour", models=["opus-mt-en-fr"]),
        pb.Translation(text_index=0, language="de", text="Hallo", models=["opus-mt-en-de"]),
        pb.Translation(text_index=1, language="fr", text="Monde", models=["opus-mt-en-fr"]),
        pb.Translation(text_index=1, language="de", text="Welt", models=["opus-mt-en-de"]),
    ],
    total_duration_ms=250.5,
)
DETECT_RESPONSE = pb.DetectLanguageResponse(
    language=pb.DetectedLanguage(language="fr", confidence=0.9),
    candidates=[
        pb.LanguageScore(language="fr", confidence=0.9),
        pb.LanguageScore(language="it", confidence=0.05),
    ],
)
MODELS_RESPONSE = pb.ListModelsResponse(
    profile="embedded",
    models=[
        pb.ModelInfo(
            name="qwen2.5-1.5b-instruct",
            backend="llm",
            source="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
            runtime="transformers",
            tasks=[pb.MODEL_TASK_SUMMARIZE, pb.MODEL_TASK_TRANSLATE],
            any_language=True,
        ),
        pb.ModelInfo(
            name="opus-mt-en-fr",
            backend="seq2seq",
            source="Helsinki-NLP/opus-mt-en-fr",
            runtime="ctranslate2",
            tasks=[pb.MODEL_TASK_TRANSLATE],
            translation_pairs=[pb.LanguagePair(source="en", target="fr")],
        ),
    ],
    languages=["en", "fr"],
)

# The same answers as the client should map them, written out by hand.
EXPECTED_EN = Summary(
    language="en",
    text="Rain fell on Paris.",
    models=["qwen2.5-1.5b-instruct"],
    translated_from="",
    duration_ms=4100.0,
    spans=[TextSpan(0, 29), TextSpan(30, 56)],
)
EXPECTED_FR = Summary(
    language="fr",
    text="Il a plu sur Paris.",
    models=["qwen2.5-1.5b-instruct", "opus-mt-en-fr"],
    translated_from="en",
    duration_ms=12345.0,
    spans=[],
)
EXPECTED_DE_FAILURE = LanguageFailure(
    language="de", code=grpc.StatusCode.INTERNAL, message="translator crashed"
)


class FakeSummarizerService(pb_grpc.SummarizerServiceServicer):
    """A stand-in for the real servicer: canned answers, and a record of every call.

    It refuses any call that carries no deadline, so every test checks that the client sets one.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.metadata: list[dict[str, str]] = []
        self.time_remaining: list[float] = []
        # (code, details, request id for the trailing metadata or None): fail every call.
        self.error: tuple[grpc.StatusCode, str, str | None] | None = None
        # Fail the stream with this status after sending every canned message.
        self.stream_error: tuple[grpc.StatusCode, str] | None = None
        # When set, the stream sends its first message and then waits for this event.
        self.hold_stream: threading.Event | None = None
        self.hold_released: bool | None = None
        self.stream_terminated = threading.Event()
        # When set, unary calls wait for this event before answering.
        self.hold_unary: threading.Event | None = None

    def release(self) -> None:
        for event in (self.hold_stream, self.hold_unary):
            if event is not None:
                event.set()

    def _record(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        self.calls.append((method, request))
        self.metadata.append({key: value for key, value in context.invocation_metadata()})
        remaining = context.time_remaining()
        if remaining is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the client set no deadline")
        self.time_remaining.append(remaining)
        if self.error is not None:
            code, details, request_id = self.error
            if request_id is not None:
                context.set_trailing_metadata((("x-request-id", request_id),))
            context.abort(code, details)
        if self.hold_unary is not None:
            self.hold_unary.wait(10)

    def Summarize(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Summarize", request, context)
        return SUMMARIZE_RESPONSE

    def StreamSummarize(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._record("StreamSummarize", request, context)
        context.add_callback(self.stream_terminated.set)
        for index, message in enumerate(STREAM_RESPONSES):
            if index == 1 and self.hold_stream is not None:
                # True only when the test released it after reading the first event.
                self.hold_released = self.hold_stream.wait(3)
            yield message
        if self.stream_error is not None:
            context.abort(*self.stream_error)

    def Translate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Translate", request, context)
        return TRANSLATE_RESPONSE

    def DetectLanguage(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("DetectLanguage", request, context)
        return DETECT_RESPONSE

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("ListModels", request, context)
        return MODELS_RESPONSE


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in the caller's environment may send traffic anywhere but the fake.
    for name in ("SUMMARIZER_SERVER", "SUMMARIZER_TOKEN", "grpc_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def fake() -> FakeSummarizerService:
    return FakeSummarizerService()


@pytest.fixture
def health_servicer() -> health.HealthServicer:
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return servicer


@pytest.fixture
def address(fake: FakeSummarizerService, health_servicer: health.HealthServicer) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_SummarizerServiceServicer_to_server(fake, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        fake.release()
        server.stop(grace=None).wait()


@pytest.fixture
def client(address: str) -> Iterator[SummarizerClient]:
    with SummarizerClient(address, timeout=10) as summarizer:
        yield summarizer


def only_call(fake: FakeSummarizerService, method: str) -> Any:
    assert [name for name, _ in fake.calls] == [method]
    return fake.calls[0][1]


# -- summarize -----------------------------------------------------------------------------


def test_summarize_sends_every_field(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    client.summarize(
        ARTICLE,
        ["fr", "de"],
        source_language="en",
        mode="extractive",
        length="long",
        max_tokens=50,
        max_sentences=3,
        num_beams=4,
        html=True,
        request_id="req-1",
    )

    request = only_call(fake, "Summarize")
    assert request.text == ARTICLE
    assert request.source_language == "en"
    assert list(request.target_languages) == ["fr", "de"]
    assert request.options == pb.SummaryOptions(
        mode=pb.SUMMARY_MODE_EXTRACTIVE,
        length=pb.LENGTH_PRESET_LONG,
        max_tokens=50,
        max_sentences=3,
        num_beams=4,
    )
    assert request.input_format == pb.INPUT_FORMAT_HTML
    assert request.request_id == "req-1"


def test_summarize_defaults_leave_the_rest_to_the_server(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    client.summarize(ARTICLE)

    request = only_call(fake, "Summarize")
    assert list(request.target_languages) == []
    assert request.source_language == ""
    assert request.options == pb.SummaryOptions(mode=pb.SUMMARY_MODE_ABSTRACTIVE)
    assert request.input_format == pb.INPUT_FORMAT_TEXT
    assert request.request_id == ""


def test_a_single_target_string_is_one_language(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    client.summarize(ARTICLE, "zh-Hans")

    assert list(only_call(fake, "Summarize").target_languages) == ["zh-Hans"]


def test_summarize_maps_the_response_to_dataclasses(client: SummarizerClient) -> None:
    result = client.summarize(ARTICLE, ["en", "fr", "de"])

    assert result == SummarizeResult(
        request_id="req-42",
        source_language=DetectedLanguage(language="en", confidence=0.98, declared=False),
        summaries=[EXPECTED_EN, EXPECTED_FR],
        failures=[EXPECTED_DE_FAILURE],
        warnings=["declared language fr contradicts detected en"],
        total_duration_ms=16500.0,
    )
    assert result.get("fr") == EXPECTED_FR
    assert result.get("de") is None


@pytest.mark.parametrize(
    "options",
    [{"mode": "bogus"}, {"length": "huge"}, {"max_tokens": 0}, {"num_beams": -1}],
)
def test_bad_options_fail_before_any_call(
    client: SummarizerClient, fake: FakeSummarizerService, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        client.summarize(ARTICLE, **options)
    with pytest.raises(ValueError):
        client.stream_summarize(ARTICLE, **options)
    assert fake.calls == []


# -- stream_summarize ----------------------------------------------------------------------


def test_stream_yields_the_events_in_order(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    events = list(client.stream_summarize(ARTICLE, ["en", "fr", "de"], length="short", request_id="r"))

    assert events == [
        SourceLanguage(
            request_id="req-42", language="en", confidence=0.98, declared=False, warnings=["a note"]
        ),
        LanguageSummary(request_id="req-42", summary=EXPECTED_EN),
        LanguageSummary(request_id="req-42", summary=EXPECTED_FR),
        LanguageFailed(request_id="req-42", failure=EXPECTED_DE_FAILURE),
    ]
    assert [event.language for event in events] == ["en", "en", "fr", "de"]
    request = only_call(fake, "StreamSummarize")
    assert isinstance(request, pb.StreamSummarizeRequest)
    assert list(request.target_languages) == ["en", "fr", "de"]
    assert request.options.length == pb.LENGTH_PRESET_SHORT
    assert request.request_id == "r"


def test_stream_yields_each_event_as_it_arrives(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    fake.hold_stream = threading.Event()
    events = client.stream_summarize(ARTICLE, ["en", "fr", "de"])

    first = next(events)
    # The server is still holding back the rest: the first event came on its own.
    assert isinstance(first, SourceLanguage)
    fake.hold_stream.set()
    rest = list(events)

    assert fake.hold_released is True
    assert [type(event) for event in rest] == [LanguageSummary, LanguageSummary, LanguageFailed]


def test_closing_the_stream_early_cancels_the_call(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    fake.hold_stream = threading.Event()
    events = client.stream_summarize(ARTICLE, ["en", "fr"])
    assert isinstance(next(events), SourceLanguage)

    events.close()

    # The server is still held, so only a cancellation can have ended the call.
    assert fake.stream_terminated.wait(5)
    assert fake.hold_released is None


def test_stream_error_arrives_after_the_events_sent_before_it(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    fake.stream_error = (grpc.StatusCode.INTERNAL, "worker died (request id req-42)")
    received = []

    with pytest.raises(SummarizerClientError) as caught:
        for event in client.stream_summarize(ARTICLE, ["en", "fr", "de"]):
            received.append(event)

    assert len(received) == len(STREAM_RESPONSES)
    assert caught.value.code == grpc.StatusCode.INTERNAL
    assert caught.value.details == "worker died (request id req-42)"
    assert isinstance(caught.value.__cause__, grpc.RpcError)


# -- translate, detect_language, list_models -----------------------------------------------


def test_translate_maps_both_ways(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    result = client.translate(["Hello", "World"], ["fr", "de"], source_language="en")

    request = only_call(fake, "Translate")
    assert list(request.texts) == ["Hello", "World"]
    assert list(request.target_languages) == ["fr", "de"]
    assert request.source_language == "en"
    assert result == TranslateResult(
        request_id="req-t",
        source_language=DetectedLanguage(language="en", confidence=1.0, declared=True),
        translations=[
            Translation(text_index=0, language="fr", text="Bonjour", models=["opus-mt-en-fr"]),
            Translation(text_index=0, language="de", text="Hallo", models=["opus-mt-en-de"]),
            Translation(text_index=1, language="fr", text="Monde", models=["opus-mt-en-fr"]),
            Translation(text_index=1, language="de", text="Welt", models=["opus-mt-en-de"]),
        ],
        total_duration_ms=250.5,
    )


def test_translate_takes_a_single_text_and_target(
    client: SummarizerClient, fake: FakeSummarizerService
) -> None:
    client.translate("Hello", "fr")

    request = only_call(fake, "Translate")
    assert (list(request.texts), list(request.target_languages)) == (["Hello"], ["fr"])


def test_detect_language_maps_both_ways(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    detection = client.detect_language("Bonjour tout le monde")

    assert only_call(fake, "DetectLanguage").text == "Bonjour tout le monde"
    assert detection == Detection(
        language="fr",
        confidence=0.9,
        candidates=[LanguageScore("fr", 0.9), LanguageScore("it", 0.05)],
    )


def test_list_models_maps_the_profile(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    info = client.list_models()

    assert isinstance(only_call(fake, "ListModels"), pb.ListModelsRequest)
    assert info == ModelsInfo(
        profile="embedded",
        models=[
            ModelInfo(
                name="qwen2.5-1.5b-instruct",
                backend="llm",
                source="Qwen/Qwen2.5-1.5B-Instruct-GGUF",
                runtime="transformers",
                tasks=["summarize", "translate"],
                summary_languages=[],
                translation_pairs=[],
                any_language=True,
            ),
            ModelInfo(
                name="opus-mt-en-fr",
                backend="seq2seq",
                source="Helsinki-NLP/opus-mt-en-fr",
                runtime="ctranslate2",
                tasks=["translate"],
                summary_languages=[],
                translation_pairs=[LanguagePair("en", "fr")],
                any_language=False,
            ),
        ],
        languages=["en", "fr"],
    )


# -- deadlines, metadata, errors -----------------------------------------------------------

CALLS: dict[str, Callable[..., Any]] = {
    "Summarize": lambda c, **kw: c.summarize(ARTICLE, **kw),
    "StreamSummarize": lambda c, **kw: list(c.stream_summarize(ARTICLE, **kw)),
    "Translate": lambda c, **kw: c.translate(["Hello"], ["fr"], **kw),
    "DetectLanguage": lambda c, **kw: c.detect_language("Hello", **kw),
    "ListModels": lambda c, **kw: c.list_models(**kw),
}


@pytest.mark.parametrize("method", CALLS)
def test_every_call_carries_the_client_deadline(
    address: str, fake: FakeSummarizerService, method: str
) -> None:
    with SummarizerClient(address, timeout=7.0) as client:
        CALLS[method](client)

    only_call(fake, method)
    assert 5.0 < fake.time_remaining[0] <= at_most(7.0)


@pytest.mark.parametrize("method", CALLS)
def test_a_per_call_timeout_overrides_the_client_deadline(
    address: str, fake: FakeSummarizerService, method: str
) -> None:
    with SummarizerClient(address, timeout=60.0) as client:
        CALLS[method](client, timeout=2.0)

    assert 0.0 < fake.time_remaining[0] <= at_most(2.0)


def test_a_slow_server_raises_deadline_exceeded(address: str, fake: FakeSummarizerService) -> None:
    fake.hold_unary = threading.Event()
    with SummarizerClient(address, timeout=0.3) as client:
        with pytest.raises(DeadlineExceededError) as caught:
            client.detect_language("Hello")
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_the_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        SummarizerClient("127.0.0.1:1", timeout=timeout)


def test_the_token_is_sent_as_a_bearer_header(address: str, fake: FakeSummarizerService) -> None:
    with SummarizerClient(address, token="s3cret", metadata=[("x-tenant", "acme")]) as client:
        client.detect_language("Hello")
        list(client.stream_summarize(ARTICLE))

    for metadata in fake.metadata:
        assert metadata["authorization"] == "Bearer s3cret"
        assert metadata["x-tenant"] == "acme"


def test_no_token_no_authorization_header(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    client.list_models()

    assert "authorization" not in fake.metadata[0]


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
        (grpc.StatusCode.UNAVAILABLE, UnavailableError),
        (grpc.StatusCode.INTERNAL, SummarizerClientError),
        (grpc.StatusCode.PERMISSION_DENIED, SummarizerClientError),
    ],
)
@pytest.mark.parametrize("method", CALLS)
def test_an_error_status_becomes_a_client_error(
    client: SummarizerClient,
    fake: FakeSummarizerService,
    method: str,
    code: grpc.StatusCode,
    error_type: type[SummarizerClientError],
) -> None:
    fake.error = (code, "text: must not be empty", "req-9")

    with pytest.raises(SummarizerClientError) as caught:
        CALLS[method](client)

    error = caught.value
    assert type(error) is error_type
    assert error.code == code
    assert error.details == "text: must not be empty"
    assert error.request_id == "req-9"
    assert isinstance(error.__cause__, grpc.RpcError)
    assert str(error) == f"{code.name}: text: must not be empty (request id req-9)"


def test_an_error_without_a_request_id(client: SummarizerClient, fake: FakeSummarizerService) -> None:
    fake.error = (grpc.StatusCode.INVALID_ARGUMENT, "target_languages[0]: unsupported", None)

    with pytest.raises(InvalidArgumentError) as caught:
        client.summarize(ARTICLE, ["xx"])

    assert caught.value.request_id is None
    assert str(caught.value) == "INVALID_ARGUMENT: target_languages[0]: unsupported"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_server_is_unavailable() -> None:
    with SummarizerClient(f"127.0.0.1:{_closed_port()}", timeout=5) as client:
        with pytest.raises(UnavailableError):
            client.list_models()


def test_leaving_the_block_closes_the_channel(address: str) -> None:
    with SummarizerClient(address) as client:
        client.list_models()

    with pytest.raises(ValueError):
        client.list_models()


# -- health --------------------------------------------------------------------------------


def test_wait_ready_returns_once_serving(
    client: SummarizerClient, health_servicer: health.HealthServicer
) -> None:
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    timer = threading.Timer(0.5, health_servicer.set, ("", health_pb2.HealthCheckResponse.SERVING))
    started = time.monotonic()
    timer.start()
    try:
        client.wait_ready(10)
    finally:
        timer.cancel()

    assert 0.4 < time.monotonic() - started < 5
    assert client.check_health() == "SERVING"


def test_wait_ready_gives_up_after_its_timeout(
    client: SummarizerClient, health_servicer: health.HealthServicer
) -> None:
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)

    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="NOT_SERVING"):
        client.wait_ready(0.6)

    assert time.monotonic() - started < 3


def test_wait_ready_waits_for_an_unknown_service_to_appear(
    client: SummarizerClient, health_servicer: health.HealthServicer
) -> None:
    service = "summarizer.v1.SummarizerService"
    timer = threading.Timer(0.3, health_servicer.set, (service, health_pb2.HealthCheckResponse.SERVING))
    timer.start()
    try:
        client.wait_ready(10, service=service)
    finally:
        timer.cancel()


# -- command line --------------------------------------------------------------------------


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


def test_cli_streams_plain_text(
    address: str, fake: FakeSummarizerService, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--server", address, "summarize", str(article), "-t", "en", "fr", "-t", "de"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines() == [
        "source: en (detected, confidence 0.98)",
        "warning: a note",
        "",
        "== en (4.1 s, qwen2.5-1.5b-instruct) ==",
        "Rain fell on Paris.",
        "",
        "== fr (translated from en, 12.3 s, qwen2.5-1.5b-instruct -> opus-mt-en-fr) ==",
        "Il a plu sur Paris.",
        "",
        "== de: FAILED (INTERNAL): translator crashed ==",
        "",
    ]
    request = only_call(fake, "StreamSummarize")
    assert request.text == ARTICLE
    assert list(request.target_languages) == ["en", "fr", "de"]


def test_cli_streams_json_lines(
    address: str, fake: FakeSummarizerService, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--server", address, "summarize", str(article), "--target", "fr,de", "--json"])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    # Each line is shaped like a StreamSummarizeResponse: one key names the event.
    assert lines[0] == {
        "request_id": "req-42",
        "source_language": {"language": "en", "confidence": 0.98, "declared": False, "mixed": []},
        "warnings": ["a note"],
    }
    assert lines[1]["summary"]["spans"] == [{"start": 0, "end": 29}, {"start": 30, "end": 56}]
    assert lines[2] == {
        "request_id": "req-42",
        "summary": {
            "language": "fr",
            "text": "Il a plu sur Paris.",
            "models": ["qwen2.5-1.5b-instruct", "opus-mt-en-fr"],
            "translated_from": "en",
            "duration_ms": 12345.0,
            "spans": [],
            "issues": [],
            "confidence": 0.0,
            "repaired": False,
        },
    }
    assert lines[3] == {
        "request_id": "req-42",
        "failure": {"language": "de", "code": "INTERNAL", "message": "translator crashed"},
    }
    assert len(lines) == 4
    assert list(only_call(fake, "StreamSummarize").target_languages) == ["fr", "de"]


def test_cli_no_stream_json_is_one_document(
    address: str, fake: FakeSummarizerService, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--server", address, "summarize", str(article), "-t", "fr", "--json", "--no-stream"])

    document = json.loads(capsys.readouterr().out)
    assert code == 0
    only_call(fake, "Summarize")
    assert document["request_id"] == "req-42"
    assert document["source_language"] == {
        "language": "en",
        "confidence": 0.98,
        "declared": False,
        "mixed": [],
    }
    assert [s["language"] for s in document["summaries"]] == ["en", "fr"]
    assert document["failures"] == [{"language": "de", "code": "INTERNAL", "message": "translator crashed"}]
    assert document["total_duration_ms"] == 16500.0


def test_cli_no_stream_plain_text(address: str, article: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--server", address, "summarize", str(article), "--no-stream"])

    out = capsys.readouterr().out
    assert code == 0
    assert "warning: declared language fr contradicts detected en" in out
    assert "== fr (translated from en, 12.3 s, qwen2.5-1.5b-instruct -> opus-mt-en-fr) ==\nIl a plu" in out
    assert out.index("== en (") < out.index("== fr (") < out.index("== de: FAILED (INTERNAL)")


def test_cli_flags_map_to_the_request(address: str, fake: FakeSummarizerService, article: Path) -> None:
    argv = [
        "summarize", str(article), "-t", "fr", "--source", "en", "--mode", "extractive",
        "--length", "short", "--max-tokens", "40", "--sentences", "2", "--beams", "3",
        "--html", "--request-id", "abc", "--no-stream",
        # Connection flags are accepted after the command too.
        "--server", address, "--timeout", "42",
    ]  # fmt: skip
    assert main(argv) == 0

    request = only_call(fake, "Summarize")
    assert request.source_language == "en"
    assert request.options == pb.SummaryOptions(
        mode=pb.SUMMARY_MODE_EXTRACTIVE,
        length=pb.LENGTH_PRESET_SHORT,
        max_tokens=40,
        max_sentences=2,
        num_beams=3,
    )
    assert request.input_format == pb.INPUT_FORMAT_HTML
    assert request.request_id == "abc"
    assert 30 < fake.time_remaining[0] <= at_most(42)


def test_cli_default_deadline_is_300_seconds(address: str, fake: FakeSummarizerService) -> None:
    assert main(["--server", address, "models"]) == 0

    assert 290 < fake.time_remaining[0] <= at_most(300)


@pytest.mark.parametrize("file_args", [[], ["-"]])
def test_cli_reads_the_article_from_stdin(
    address: str,
    fake: FakeSummarizerService,
    monkeypatch: pytest.MonkeyPatch,
    file_args: list[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Un article lu sur l'entrée standard."))

    assert main(["--server", address, "summarize", *file_args, "--no-stream", "--json"]) == 0

    assert only_call(fake, "Summarize").text == "Un article lu sur l'entrée standard."


def test_cli_rpc_error_exits_1(
    address: str, fake: FakeSummarizerService, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.error = (grpc.StatusCode.INVALID_ARGUMENT, "text: must not be empty", "req-7")

    code = main(["--server", address, "summarize", str(article)])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "error: INVALID_ARGUMENT: text: must not be empty (request id req-7)\n"
    assert captured.out == ""


def test_cli_server_and_token_from_the_environment(
    address: str, fake: FakeSummarizerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMMARIZER_SERVER", address)
    monkeypatch.setenv("SUMMARIZER_TOKEN", "from-env")

    assert main(["detect", "Bonjour"]) == 0

    assert fake.metadata[0]["authorization"] == "Bearer from-env"


def test_cli_token_flag(address: str, fake: FakeSummarizerService) -> None:
    assert main(["--server", address, "--token", "t0k", "models"]) == 0

    assert fake.metadata[0]["authorization"] == "Bearer t0k"


def test_cli_translate(address: str, fake: FakeSummarizerService, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--server", address, "translate", "Hello", "World", "--target", "fr", "de", "--source", "en"]
    )

    out = capsys.readouterr().out
    assert code == 0
    request = only_call(fake, "Translate")
    assert (list(request.texts), list(request.target_languages)) == (["Hello", "World"], ["fr", "de"])
    assert request.source_language == "en"
    assert "== [0] fr (opus-mt-en-fr) ==\nBonjour\n" in out
    assert "== [1] de (opus-mt-en-de) ==\nWelt\n" in out


def test_cli_translate_json(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", address, "translate", "Hello", "-t", "fr", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["translations"][1] == {
        "text_index": 0,
        "language": "de",
        "text": "Hallo",
        "models": ["opus-mt-en-de"],
        "issues": [],
        "confidence": 0.0,
        "repaired": False,
    }


def test_cli_detect_from_stdin(
    address: str,
    fake: FakeSummarizerService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Bonjour"))

    assert main(["--server", address, "detect", "-"]) == 0

    assert only_call(fake, "DetectLanguage").text == "Bonjour"
    assert capsys.readouterr().out == "fr (confidence 0.900)\ncandidates: fr 0.900, it 0.050\n"


def test_cli_models(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", address, "models"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("profile: embedded\n")
    assert "- qwen2.5-1.5b-instruct (llm, transformers): summarize, translate\n" in out
    assert "    summarizes: any language\n" in out
    assert "    translates: en->fr\n" in out
    assert out.endswith("languages: en, fr\n")


def test_cli_models_json(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--server", address, "models", "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert document["profile"] == "embedded"
    assert document["models"][1]["translation_pairs"] == [{"source": "en", "target": "fr"}]


def test_cli_health(
    address: str, health_servicer: health.HealthServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--server", address, "health"]) == 0
    assert capsys.readouterr().out == "SERVING\n"

    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert main(["--server", address, "health"]) == 1
    assert capsys.readouterr().out == "NOT_SERVING\n"


def test_cli_health_wait_times_out(
    address: str, health_servicer: health.HealthServicer, capsys: pytest.CaptureFixture[str]
) -> None:
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)

    assert main(["--server", address, "health", "--wait", "0.5"]) == 1
    assert capsys.readouterr().err.startswith("error: DEADLINE_EXCEEDED: ")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["summarize", "--mode", "bogus"],
        ["summarize", "--sentences", "0"],
        ["translate", "Hello"],
        ["--timeout", "-3", "models"],
        ["frobnicate"],
    ],
)
def test_cli_usage_errors_exit_2(
    argv: list[str], fake: FakeSummarizerService, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("usage: ")
    assert fake.calls == []


def test_cli_unreadable_file_exits_2(
    address: str, fake: FakeSummarizerService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.txt"

    assert main(["--server", address, "summarize", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot read {missing}")
    assert fake.calls == []


def test_mixed_language_shares_are_mapped():
    from summarizer_client import _convert

    response = pb.DetectLanguageResponse(
        language=pb.DetectedLanguage(
            language="en",
            confidence=0.6,
            mixed=[pb.LanguageShare(language="en", share=0.6), pb.LanguageShare(language="fr", share=0.4)],
        )
    )
    detection = _convert.detection(response)
    assert detection.language == "en" and detection.mixed == [("en", 0.6), ("fr", 0.4)]
    event = _convert.stream_event(
        pb.StreamSummarizeResponse(request_id="r", source_language=response.language, warnings=["mixed"])
    )
    assert event.mixed == [("en", 0.6), ("fr", 0.4)] and event.warnings == ["mixed"]
