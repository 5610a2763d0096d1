"""Metrics, traces and access lines of real calls, through a real server on 127.0.0.1.

The models are fakes (tests/fakes.py); everything between the socket and the pipeline is real:
/metrics is scraped over HTTP, spans arrive at a real OTLP/gRPC receiver, access lines go through
the JSON formatter the CLI installs.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from service.logging_setup import JsonFormatter
from service.request_context import RequestIdFilter
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import FakeSummarizer
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.test_robustness import FOREIGN_LOOPS, article, stop_server, wait_for, warm_pipeline
from tests.observing import (
    CALLER_SPAN,
    CALLER_TRACE,
    TRACEPARENT,
    TraceReceiver,
    free_port,
    scrape,
    span_attributes,
    trace_receiver,
    value,
)

pytestmark = [pytest.mark.integration, FOREIGN_LOOPS]

ROOT = Path(__file__).resolve().parents[2]
# Words that appear in the article text only: none may reach a log line, a label or a span.
SECRET = "Zebracorn quartermasters ratified the pineapple accord."
SECRET_WORDS = ("Zebracorn", "quartermasters", "pineapple")


def secret_article() -> str:
    return f"{SECRET} {article()}"


@pytest.fixture(scope="module")
def metered() -> Iterator[tuple[ServerThread, int]]:
    port = free_port()
    server = ServerThread(server_settings(metrics_port=port), warm_pipeline())
    yield server, port
    stop_server(server)


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_move_with_real_calls(metered):
    server, port = metered
    before = scrape(port)
    text = secret_article()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        stub.Summarize(pb.SummarizeRequest(text=text, target_languages=["en", "fr"]), timeout=10)
        # The same article again, streamed: the whole answer comes from the cache.
        streamed = list(
            stub.StreamSummarize(
                pb.StreamSummarizeRequest(text=text, target_languages=["en", "fr"]), timeout=10
            )
        )
        assert [m.WhichOneof("event") for m in streamed] == ["source_language", "summary", "summary"]
        stub.Translate(pb.TranslateRequest(texts=["Good morning."], target_languages=["de"]), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Summarize(pb.SummarizeRequest(text="   "), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A refusal reaches the caller as soon as it is sent, a moment before its call is recorded.
    refusals = {"name": "summarizer_requests_total", "rpc": "Summarize", "code": "INVALID_ARGUMENT"}
    wait_for(lambda: value(scrape(port), **refusals) > value(before, **refusals))
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("summarizer_requests_total", rpc="Summarize", code="OK") == 1
    assert moved("summarizer_requests_total", rpc="StreamSummarize", code="OK") == 1
    assert moved("summarizer_requests_total", rpc="Translate", code="OK") == 1
    assert moved("summarizer_requests_total", rpc="Summarize", code="INVALID_ARGUMENT") == 1
    assert moved("summarizer_request_duration_seconds_count", rpc="Summarize") == 2
    assert moved("summarizer_request_duration_seconds_sum", rpc="Summarize") > 0
    assert moved("summarizer_rejected_total", reason="EMPTY_TEXT") == 1
    # The first call ran every stage; the second ran none (a cache hit skips the stages).
    assert moved("summarizer_stage_duration_seconds_count", stage="detect") >= 1
    assert moved("summarizer_stage_duration_seconds_count", stage="summarize") == 1
    assert moved("summarizer_stage_duration_seconds_count", stage="translate") == 2  # fr, then Translate's de
    assert moved("summarizer_cache_misses_total", kind="summary") == 1
    assert moved("summarizer_cache_hits_total", kind="summary") == 1
    assert moved("summarizer_cache_hits_total", kind="translation") == 1
    assert moved("summarizer_cache_hits_total", kind="detection") == 1
    assert moved("summarizer_time_to_first_language_seconds_count") == 1
    assert moved("summarizer_languages_total", language="fr", outcome="summary") == 2
    assert moved("summarizer_time_to_language_seconds_count", language="en") == 2
    # Every call that got a slot: the empty one too, refused by planning, which comes after admission.
    assert moved("summarizer_queue_wait_seconds_count") == 4
    assert value(after, "summarizer_requests_running") == 0
    assert value(after, "summarizer_requests_queued") == 0
    # Every counter the server keeps, whatever it holds, under its own name.
    counters = server.server.metrics.snapshot()
    assert counters["requests_admitted"] >= 3
    for name, count in counters.items():
        assert value(after, f"summarizer_{name}_total") == count, name
    for model, backend in (("fake-sum", "fake"), ("fake-mt", "fake"), ("textrank", "extractive")):
        runtime = "numpy" if backend == "extractive" else "none"
        labels = {"profile": "fake", "model": model, "backend": backend, "runtime": runtime, "device": "cpu"}
        assert value(after, "summarizer_model_info", **labels) == 1, model
    assert value(after, "process_resident_memory_bytes") > 0
    for (name, labels), _ in after.items():
        for _key, label in labels:
            assert not any(word in label for word in SECRET_WORDS), name


def test_each_server_counts_its_own_calls(metered):
    first, first_port = metered
    port = free_port()
    second = ServerThread(server_settings(metrics_port=port), warm_pipeline())
    try:
        with grpc.insecure_channel(second.target) as channel:
            pb_grpc.SummarizerServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=10)
        assert value(scrape(port), "summarizer_requests_total", rpc="ListModels", code="OK") == 1
        assert value(scrape(first_port), "summarizer_requests_total", rpc="ListModels", code="OK") == 0
    finally:
        stop_server(second)
    with pytest.raises(OSError):  # its endpoint went with it
        scrape(port)


def test_a_metrics_port_in_use_stops_the_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            ServerThread(server_settings(metrics_port=port), None)


# -- access lines ------------------------------------------------------------------------------


class JsonLines(logging.Handler):
    """The access lines, formatted as the CLI's JSON mode writes them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def access(self, request_id: str) -> dict:
        for line in self.lines:
            entry = json.loads(line)
            if entry.get("rpc") and entry["request_id"] == request_id:
                return entry
        raise LookupError(f"{request_id} not in {self.lines}")


@pytest.fixture()
def json_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("service")
    saved = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(saved)


ACCESS_KEYS = {
    "request_id",
    "rpc",
    "code",
    "duration_ms",
    "source_language",
    "targets",
    "text_chars",
    "cached",
    "peer",
    "trace_id",
}


def test_each_call_writes_one_json_access_line(metered, json_lines):
    server, _ = metered
    text = secret_article()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        stub.Summarize(
            pb.SummarizeRequest(text=text, target_languages=["EN", "fr"], request_id="access-1"),
            timeout=10,
            metadata=[("traceparent", TRACEPARENT)],
        )
        with pytest.raises(grpc.RpcError):
            stub.Summarize(
                pb.SummarizeRequest(
                    text=text, target_languages=["xx-notalanguage-99"], request_id="access-2"
                ),
                timeout=10,
            )
    # A refusal reaches the caller as soon as it is sent, a moment before its line is written.
    wait_for(lambda: any('"access-2"' in line for line in json_lines.lines))
    ok = json_lines.access("access-1")
    assert set(ok) == ACCESS_KEYS | {"ts", "level", "logger", "message"}
    assert ok["logger"] == "service.access" and ok["level"] == "INFO"
    assert ok["rpc"] == "Summarize" and ok["code"] == "OK"
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] > 0
    assert ok["source_language"] == "en"
    assert ok["targets"] == ["en", "fr"]  # as planned: normalized
    assert ok["text_chars"] == len(text)
    assert ok["cached"] is False
    assert ok["peer"].startswith("ipv4:127.0.0.1:")
    assert ok["trace_id"] == CALLER_TRACE  # tracing is off: the caller's trace id
    refused = json_lines.access("access-2")
    assert refused["code"] == "INVALID_ARGUMENT" and refused["cached"] is None
    assert refused["trace_id"] is None
    assert sum(1 for line in json_lines.lines if '"access-1"' in line) == 1  # one line per call
    for line in json_lines.lines:
        assert not any(word in line for word in SECRET_WORDS), line


def test_a_call_refused_for_its_token_is_logged_and_counted(json_lines):
    port = free_port()
    server = ServerThread(server_settings(metrics_port=port, auth_token="s3cret-token"), warm_pipeline())
    try:
        with grpc.insecure_channel(server.target) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                pb_grpc.SummarizerServiceStub(channel).DetectLanguage(
                    pb.DetectLanguageRequest(text=SECRET), timeout=10
                )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        wait_for(lambda: value(scrape(port), "summarizer_rejected_total", reason="UNAUTHENTICATED") == 1)
        samples = scrape(port)
        assert value(samples, "summarizer_requests_total", rpc="DetectLanguage", code="UNAUTHENTICATED") == 1
        assert value(samples, "summarizer_auth_failures_total") == 1
    finally:
        stop_server(server)
    entry = json_lines.access("-")
    assert entry["rpc"] == "DetectLanguage" and entry["code"] == "UNAUTHENTICATED"
    assert entry["text_chars"] == 0  # refused before its request was read
    assert not any("s3cret" in line for line in json_lines.lines)


@pytest.fixture()
def slow_stream_server() -> Iterator[ServerThread]:
    server = ServerThread(
        server_settings(), warm_pipeline(summarizer=FakeSummarizer(languages=("en",), delay_s=5))
    )
    yield server
    stop_server(server)


def test_a_call_the_client_cancels_still_writes_its_line(slow_stream_server, json_lines):
    server = slow_stream_server
    text = secret_article()
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        call = stub.StreamSummarize(
            pb.StreamSummarizeRequest(text=text, target_languages=["en", "fr"], request_id="access-cancel"),
            timeout=30,
        )
        first = next(call)  # the source language; the summary takes 5 s
        assert first.WhichOneof("event") == "source_language"
        started = time.monotonic()
        call.cancel()
        wait_for(lambda: any('"access-cancel"' in line for line in json_lines.lines), timeout=10)
    cancelled = json_lines.access("access-cancel")
    assert set(cancelled) == ACCESS_KEYS | {"ts", "level", "logger", "message"}
    assert cancelled["rpc"] == "StreamSummarize" and cancelled["code"] == "CANCELLED"
    assert cancelled["source_language"] == "en" and cancelled["targets"] == ["en", "fr"]
    assert cancelled["cached"] is False and cancelled["text_chars"] == len(text)
    assert time.monotonic() - started < 4  # written when the call ended, not when the model would have
    wait_for(lambda: server.server.servicer.admission.running == 0)
    for line in json_lines.lines:
        assert not any(word in line for word in SECRET_WORDS), line


def test_a_stream_let_go_of_for_a_stalled_reader_is_counted_and_logged_once(json_lines):
    h2 = pytest.importorskip("h2.events")
    from tests.integration.stalled_reader import StalledReader

    port = free_port()
    settings = server_settings(metrics_port=port, max_concurrent_requests=1, stream_send_timeout_s=1.0)
    server = ServerThread(settings, warm_pipeline())
    try:
        request = pb.StreamSummarizeRequest(
            text=secret_article(), request_id="stalled", target_languages=["en"]
        )
        stalled = StalledReader(
            server.target, "/summarizer.v1.SummarizerService/StreamSummarize", request.SerializeToString()
        )
        try:
            wait_for(lambda: stalled.seen(h2.ResponseReceived), timeout=30)
            # The only running slot comes back once the stream is let go of, a second later.
            wait_for(lambda: value(scrape(port), "summarizer_streams_send_timed_out_total") == 1, timeout=30)
            with grpc.insecure_channel(server.target) as channel:
                stub = pb_grpc.SummarizerServiceStub(channel)
                assert stub.Summarize(pb.SummarizeRequest(text=article()), timeout=30).summaries
        finally:
            stalled.close()  # the client leaves: the stalled call ends
        wait_for(lambda: any('"stalled"' in line for line in json_lines.lines), timeout=30)
    finally:
        stop_server(server)
    entry = json_lines.access("stalled")
    assert entry["rpc"] == "StreamSummarize" and entry["code"] == "CANCELLED"
    assert sum(1 for line in json_lines.lines if '"stalled"' in line and '"rpc"' in line) == 1


@pytest.mark.parametrize("log_text", [False, True])
def test_article_text_is_logged_only_at_debug_and_only_when_asked(log_text, json_lines):
    server = ServerThread(server_settings(log_text=log_text), warm_pipeline())
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            stub.Summarize(pb.SummarizeRequest(text=secret_article(), request_id="text-1"), timeout=10)
            stub.Translate(pb.TranslateRequest(texts=[SECRET], target_languages=["fr"]), timeout=10)
    finally:
        stop_server(server)
    logged = [(r.levelno, r.getMessage()) for r in json_lines.records]
    with_text = [level for level, message in logged if "Zebracorn" in message]
    assert all(level == logging.DEBUG for level in with_text)
    assert len(with_text) == (2 if log_text else 0)


# -- traces ------------------------------------------------------------------------------------


@pytest.fixture()
def receiver() -> Iterator[tuple[TraceReceiver, int]]:
    with trace_receiver() as running:
        yield running


def test_one_stream_is_one_span_tree_continuing_the_callers_trace(receiver):
    collector, port = receiver
    server = ServerThread(server_settings(otlp_endpoint=f"http://127.0.0.1:{port}"), warm_pipeline())
    text = secret_article()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            request = pb.StreamSummarizeRequest(
                text=text, target_languages=["en", "fr", "de"], request_id="traced"
            )
            events = list(stub.StreamSummarize(request, timeout=10, metadata=[("traceparent", TRACEPARENT)]))
        assert len(events) == 4
        tracing = server.server.observability.tracing
        assert tracing is not None and tracing.force_flush()
    finally:
        stop_server(server)

    spans = {span.span_id.hex(): span for span in collector.spans}
    assert {span.trace_id.hex() for span in spans.values()} == {CALLER_TRACE}
    roots = [s for s in spans.values() if s.name == "summarizer.v1.SummarizerService/StreamSummarize"]
    assert len(roots) == 1
    root = roots[0]
    assert root.parent_span_id.hex() == CALLER_SPAN  # the caller's span is its parent
    assert root.kind == trace_pb2.Span.SPAN_KIND_SERVER
    attributes = span_attributes(root)
    assert attributes["rpc.system"] == "grpc" and attributes["rpc.method"] == "StreamSummarize"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["summarizer.request_id"] == "traced"
    assert attributes["summarizer.source_language"] == "en"
    assert attributes["summarizer.text_chars"] == len(text)
    assert attributes["summarizer.cached"] is False
    assert attributes["summarizer.cache_misses"] >= 3  # the detection, the summary, two translations
    assert [e.name for e in root.events] == ["language ready"] * 3

    def children(span: trace_pb2.Span) -> list[trace_pb2.Span]:
        return sorted(
            (s for s in spans.values() if s.parent_span_id == span.span_id),
            key=lambda s: s.start_time_unix_nano,
        )

    stages = children(root)
    assert [s.name for s in stages] == ["detect", "summarize", "translate", "translate"]
    summarize = stages[1]
    assert span_attributes(summarize)["summarizer.model"] == "fake-sum"
    assert span_attributes(summarize)["summarizer.runtime"] == "none"
    assert [s.name for s in children(summarize)] == ["language en"]
    translated = [child for stage in stages[2:] for child in children(stage)]
    assert [s.name for s in translated] == ["language fr", "language de"]
    for stage in stages[2:]:
        assert span_attributes(stage)["summarizer.models"] == ["fake-mt"]
        assert stage.start_time_unix_nano >= root.start_time_unix_nano
        assert stage.end_time_unix_nano <= root.end_time_unix_nano
    assert len(spans) == 1 + 4 + 3  # nothing else
    assert collector.resources[0]["service.name"] == "summarizer"
    for span in spans.values():
        rendered = str(span)
        assert not any(word in rendered for word in SECRET_WORDS), span.name


# -- cost when off -----------------------------------------------------------------------------

_IMPORTS = """
import asyncio, sys
from service.config import Settings
from service.server import build_server

async def main():
    server = await build_server(Settings(host="127.0.0.1", port=0, warmup=False, {settings}))
    await server.stop(0)

asyncio.run(main())
watched = {{"opentelemetry", "prometheus_client", "torch", "ctranslate2"}}
print(sorted({{name.split(".")[0] for name in sys.modules}} & watched))
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("", []),
        (
            f"metrics_port={free_port()}, otlp_endpoint='http://127.0.0.1:{free_port()}'",
            ["opentelemetry", "prometheus_client"],
        ),
    ],
    ids=["off", "on"],
)
def test_observability_loads_its_libraries_only_when_on_and_never_torch(settings, expected):
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS.format(settings=settings)],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == repr(expected)
