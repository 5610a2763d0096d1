"""A stream whose client never reads, against an in-process server with fake models: what it frees."""

from __future__ import annotations

import time

import grpc
import pytest

from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import FakeSummarizer
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.stalled_reader import StalledReader
from tests.integration.test_robustness import FOREIGN_LOOPS, article, stop_server, wait_for, warm_pipeline

pytestmark = [pytest.mark.integration, FOREIGN_LOOPS]

STREAM = "/summarizer.v1.SummarizerService/StreamSummarize"


def test_a_stream_that_takes_no_message_is_let_go_of_and_counted(caplog):
    server = ServerThread(
        server_settings(max_concurrent_requests=1, max_queue=1, stream_send_timeout_s=0.5),
        warm_pipeline(summarizer=FakeSummarizer(languages=("en",), delay_s=0.05)),
    )
    try:
        metrics = server.server.metrics
        admission = server.server.servicer.admission
        request = pb.StreamSummarizeRequest(
            text=article(), source_language="en", target_languages=["en", "fr"]
        )
        stalled = StalledReader(server.target, STREAM, request.SerializeToString())
        try:
            wait_for(lambda: admission.running == 1, timeout=10)
            waited = wait_for(lambda: metrics["streams_send_timed_out"] == 1, timeout=10)
            assert waited < 5
            assert admission.running == 0  # the slot is free while the stalled call itself lingers
            assert metrics["generations_stopped"] == 1  # its run was closed, not left waiting
            with grpc.insecure_channel(server.target) as channel:
                stub = pb_grpc.SummarizerServiceStub(channel)
                started = time.monotonic()
                response = stub.Summarize(
                    pb.SummarizeRequest(text=article(), source_language="en"), timeout=10
                )
                assert response.summaries[0].text.startswith("fake-sum[en]:")
                assert time.monotonic() - started < 5
        finally:
            stalled.close()
        warnings = [r.getMessage() for r in caplog.records if "took no message" in r.getMessage()]
        assert warnings == [
            "StreamSummarize: the client took no message for 0.5 s; stream cancelled, its slot freed"
        ]
    finally:
        stop_server(server)


def test_a_slow_but_reading_client_is_not_cut_off():
    server = ServerThread(
        server_settings(stream_send_timeout_s=0.5),
        warm_pipeline(summarizer=FakeSummarizer(languages=("en",), delay_s=0.8)),
    )
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            request = pb.StreamSummarizeRequest(text=article(), source_language="en", target_languages=["en"])
            events = list(stub.StreamSummarize(request, timeout=30))  # the model, not the client, is slow
        assert [e.WhichOneof("event") for e in events] == ["source_language", "summary"]
        assert server.server.metrics["streams_send_timed_out"] == 0
    finally:
        stop_server(server)


def test_the_server_stops_in_time_with_a_stalled_stream_still_connected(caplog):
    server = ServerThread(
        server_settings(stream_send_timeout_s=0.3),
        warm_pipeline(summarizer=FakeSummarizer(languages=("en",))),
    )
    request = pb.StreamSummarizeRequest(text=article(), source_language="en")
    stalled = StalledReader(server.target, STREAM, request.SerializeToString())
    try:
        wait_for(lambda: server.server.metrics["streams_send_timed_out"] == 1, timeout=10)
        started = time.monotonic()
        server.stop(grace=1.0)
        assert time.monotonic() - started < 3.0  # the grace period, not the stalled write, decides
        server.loop.close()
    finally:
        stalled.close()
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
