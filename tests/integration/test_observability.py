"""Metrics, traces and access lines of real calls, through a real server on 127.0.0.1.

The models are fakes (tests/fakes.py); everything between the socket and the pipeline is real:
/metrics is scraped over HTTP, spans arrive at a real OTLP/gRPC receiver, access lines go through
the JSON formatter the CLI installs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from service.errors import RequestCancelledError
from service.logging_setup import JsonFormatter
from service.models.base import GenerationParams, SummaryText
from service.request_context import RequestIdFilter
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import ALL, FakeSummarizer
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.test_robustness import FOREIGN_LOOPS, article, stop_server, wait_for, warm_pipeline
from tests.observing import (
    CALLER_SPAN,
    CALLER_TRACE,
    TRACEPARENT,
    Samples,
    TraceReceiver,
    free_port,
    label_values,
    scrape,
    span_attributes,
    trace_receiver,
    value,
    value_or_zero,
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
    wait_for(lambda: value_or_zero(scrape(port), **refusals) > value_or_zero(before, **refusals))
    after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        # Before the calls a labelled series may not exist yet; after them it must.
        return value(after, name, **labels) - value_or_zero(before, name, **labels)

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
    listed = {"name": "summarizer_requests_total", "rpc": "ListModels", "code": "OK"}
    with grpc.insecure_channel(first.target) as channel:
        pb_grpc.SummarizerServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=10)
    wait_for(lambda: value_or_zero(scrape(first_port), **listed) >= 1)
    first_before = value(scrape(first_port), **listed)  # the series exists: no "0" from its absence
    port = free_port()
    second = ServerThread(server_settings(metrics_port=port), warm_pipeline())
    try:
        with grpc.insecure_channel(second.target) as channel:
            pb_grpc.SummarizerServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=10)
        wait_for(lambda: value_or_zero(scrape(port), **listed) >= 1)
        assert value(scrape(port), **listed) == 1
        assert value(scrape(first_port), **listed) == first_before
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


class HeldSummarizer(FakeSummarizer):
    """A FakeSummarizer that holds each call until `release` is set (or the call is stopped)."""

    def __init__(self) -> None:
        super().__init__(languages=("en",))
        self.entered = threading.Event()
        self.release = threading.Event()

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        self.entered.set()
        while not self.release.wait(0.01):
            if params.should_stop is not None and params.should_stop():
                raise RequestCancelledError("stopped")
        return super().summarize(text, language, params)


@contextlib.contextmanager
def held_server(max_queue: int) -> Iterator[tuple[ServerThread, int, HeldSummarizer]]:
    """One running slot and `max_queue` places in the queue, in front of a summarizer that holds its
    call; the server, its metrics port and the summarizer."""
    held = HeldSummarizer()
    port = free_port()
    settings = server_settings(metrics_port=port, max_concurrent_requests=1, max_queue=max_queue)
    server = ServerThread(settings, warm_pipeline(summarizer=held))
    try:
        yield server, port, held
    finally:
        held.release.set()
        stop_server(server)


def released(held: HeldSummarizer, call: Any, port: int) -> Samples:
    """Let the held call finish; once the server has recorded it OK, a scrape."""
    held.release.set()
    assert call.result(timeout=10).summaries
    wait_for(
        lambda: value_or_zero(scrape(port), "summarizer_requests_total", rpc="Summarize", code="OK") == 1
    )
    return scrape(port)


@pytest.fixture()
def one_slot() -> Iterator[tuple[ServerThread, int, HeldSummarizer]]:
    """One running slot and no queue."""
    with held_server(max_queue=0) as running:
        yield running


def test_a_call_refused_for_a_full_server_is_counted_by_its_reason(one_slot):
    server, port, held = one_slot
    before = scrape(port)
    assert value(before, "summarizer_requests_running") == 0
    overloaded = {"name": "summarizer_rejected_total", "reason": "OVERLOADED"}
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        first = stub.Summarize.future(
            pb.SummarizeRequest(text=article(), target_languages=["en"]), timeout=30
        )
        assert held.entered.wait(10)
        holding = scrape(port)
        assert value(holding, "summarizer_requests_running") == 1
        assert value(holding, "summarizer_requests_queued") == 0
        with pytest.raises(grpc.RpcError) as refused:
            stub.Summarize(pb.SummarizeRequest(text=article()), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # A refusal reaches the caller as soon as it is sent, a moment before its call is recorded.
        wait_for(lambda: value_or_zero(scrape(port), **overloaded) > value_or_zero(before, **overloaded))
        during = scrape(port)
        assert value(during, **overloaded) - value_or_zero(before, **overloaded) == 1
        assert value(during, "summarizer_requests_rejected_total") == 1
        assert value(during, "summarizer_requests_total", rpc="Summarize", code="RESOURCE_EXHAUSTED") == 1
        assert value(during, "summarizer_requests_running") == 1  # the first call still holds its slot
        assert not first.done()
        after = released(held, first, port)
    assert value(after, "summarizer_requests_running") == 0
    assert value(after, **overloaded) == 1  # the call that ran was not refused as well
    assert value(after, "summarizer_requests_admitted_total") == 1


def test_a_call_whose_deadline_passes_in_the_queue_is_counted_as_expired():
    with held_server(max_queue=1) as (server, port, held):
        assert value(scrape(port), "summarizer_requests_expired_in_queue_total") == 0
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            first = stub.Summarize.future(pb.SummarizeRequest(text=article()), timeout=30)
            assert held.entered.wait(10)
            queued = stub.Summarize.future(pb.SummarizeRequest(text=article()), timeout=1.0)
            wait_for(lambda: value(scrape(port), "summarizer_requests_queued") == 1)
            with pytest.raises(grpc.RpcError) as late:
                queued.result(timeout=10)
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            wait_for(lambda: value(scrape(port), "summarizer_requests_expired_in_queue_total") == 1)
            samples = scrape(port)
            assert value(samples, "summarizer_requests_queued") == 0
            assert value(samples, "summarizer_requests_running") == 1
            after = released(held, first, port)
        assert value(after, "summarizer_requests_expired_in_queue_total") == 1
        # The server may see the client give up a moment before its own deadline passes: still a deadline.
        assert value(after, "summarizer_requests_total", rpc="Summarize", code="DEADLINE_EXCEEDED") == 1
        assert value_or_zero(after, "summarizer_requests_total", rpc="Summarize", code="CANCELLED") == 0
        assert value(after, "summarizer_requests_admitted_total") == 1  # the expired call never ran
        assert len(held.calls) == 1


UNSUPPORTED_TAGS = ("tlh", "tlh-Latn-KL", "xx-notalanguage-99")  # not in the profile; not a BCP-47 tag


def test_an_unsupported_language_tag_never_becomes_a_label(metered):
    server, port = metered
    before = scrape(port)
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        # One call that is answered, so that the scrape has language labels of its own to compare.
        stub.Summarize(pb.SummarizeRequest(text=article(), target_languages=["en", "de"]), timeout=10)
        for tag in UNSUPPORTED_TAGS:
            unary = (
                (stub.Summarize, pb.SummarizeRequest(text=article(), target_languages=["en", tag])),
                (stub.Summarize, pb.SummarizeRequest(text=article(), source_language=tag)),
                (stub.Translate, pb.TranslateRequest(texts=["Good morning."], target_languages=[tag])),
            )
            for method, request in unary:
                with pytest.raises(grpc.RpcError) as refused:
                    method(request, timeout=10)
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            streamed = pb.StreamSummarizeRequest(text=article(), target_languages=[tag])
            with pytest.raises(grpc.RpcError) as refused:
                list(stub.StreamSummarize(streamed, timeout=10))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def refusals(samples: dict) -> float:  # type: ignore[type-arg]
        return sum(
            value_or_zero(samples, "summarizer_rejected_total", reason=reason)
            for reason in ("UNSUPPORTED_LANGUAGE", "BAD_TAG")
        )

    # Every refusal recorded (so the scrape below comes after them): 4 calls for each tag.
    wait_for(lambda: refusals(scrape(port)) - refusals(before) == 4 * len(UNSUPPORTED_TAGS))
    after = scrape(port)
    assert (
        value(after, "summarizer_rejected_total", reason="UNSUPPORTED_LANGUAGE")
        - value_or_zero(before, "summarizer_rejected_total", reason="UNSUPPORTED_LANGUAGE")
        == 4 * 2
    )
    assert (
        value(after, "summarizer_rejected_total", reason="BAD_TAG")
        - value_or_zero(before, "summarizer_rejected_total", reason="BAD_TAG")
        == 4
    )
    labels = label_values(after)
    for tag in UNSUPPORTED_TAGS:
        assert tag not in labels and tag.split("-")[0] not in labels and tag.lower() not in labels, tag
    # Every language label is one of the profile's languages.
    languages = {dict(found)["language"] for _name, found in after if "language" in dict(found)}
    assert {"en", "de"} <= languages <= set(ALL)


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
        wait_for(
            lambda: value_or_zero(scrape(port), "summarizer_rejected_total", reason="UNAUTHENTICATED") == 1
        )
        samples = scrape(port)
        assert value(samples, "summarizer_rejected_total", reason="UNAUTHENTICATED") == 1
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


def _traceparent(n: int) -> tuple[str, str]:
    trace_id = f"{n:032x}"
    return trace_id, f"00-{trace_id}-{CALLER_SPAN}-01"


def test_a_stream_answered_from_the_cache_says_so_on_its_span(receiver):
    collector, port = receiver
    server = ServerThread(server_settings(otlp_endpoint=f"http://127.0.0.1:{port}"), warm_pipeline())
    text = secret_article()
    calls = [(["en", "fr", "de"], *_traceparent(1)), (["en", "fr", "de"], *_traceparent(2))]
    calls.append((["en", "fr", "es"], *_traceparent(3)))  # the summary and French cached, Spanish not
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            for targets, _trace_id, traceparent in calls:
                request = pb.StreamSummarizeRequest(text=text, target_languages=targets)
                events = list(
                    stub.StreamSummarize(request, timeout=10, metadata=[("traceparent", traceparent)])
                )
                assert len(events) == 4
        tracing = server.server.observability.tracing
        assert tracing is not None and tracing.force_flush()
    finally:
        stop_server(server)

    def tree(trace_id: str) -> tuple[trace_pb2.Span, list[trace_pb2.Span]]:
        spans = [s for s in collector.spans if s.trace_id.hex() == trace_id]
        roots = [s for s in spans if s.parent_span_id.hex() == CALLER_SPAN]
        assert len(roots) == 1 and roots[0].name == "summarizer.v1.SummarizerService/StreamSummarize"
        return roots[0], [s for s in spans if s is not roots[0]]

    (_, first_id, _), (_, second_id, _), (_, third_id, _) = calls
    first, first_below = tree(first_id)
    assert span_attributes(first)["summarizer.cached"] is False
    assert span_attributes(first)["summarizer.cache_hits"] == 0
    assert len(first_below) == 7  # detect, summarize and two translates, each with its languages
    assert not any("summarizer.cache_hit" in span_attributes(s) for s in first_below)

    second, second_below = tree(second_id)
    attributes = span_attributes(second)
    assert attributes["summarizer.cached"] is True
    assert attributes["summarizer.cache_hits"] == 4  # the detection, the summary, two translations
    assert attributes["summarizer.cache_misses"] == 0
    assert attributes["rpc.grpc.status_code"] == 0
    assert [e.name for e in second.events] == ["language ready"] * 3
    assert second_below == []  # no model ran: no stage

    third, third_below = tree(third_id)
    attributes = span_attributes(third)
    assert attributes["summarizer.cached"] is False
    assert attributes["summarizer.cache_hits"] == 3  # the detection, the summary, French
    assert attributes["summarizer.cache_misses"] == 1  # Spanish
    languages = {s.name: span_attributes(s) for s in third_below if s.name.startswith("language ")}
    assert set(languages) == {"language en", "language fr", "language es"}
    assert languages["language en"]["summarizer.cache_hit"] is True  # the cached summary is an answer too
    assert languages["language fr"]["summarizer.cache_hit"] is True
    assert "summarizer.cache_hit" not in languages["language es"]
    assert languages["language es"]["summarizer.models"] == ["fake-mt"]
    for span in collector.spans:
        assert not any(word in str(span) for word in SECRET_WORDS), span.name


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
