"""AsyncSummarizerClient against the same fakes as the blocking client: same answers, same errors."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2

from summarizer_client import (
    AsyncSummarizerClient,
    DetectedLanguage,
    InvalidArgumentError,
    LanguageFailed,
    LanguageSummary,
    ResourceExhaustedError,
    SourceLanguage,
    SummarizeResult,
    UnavailableError,
)
from tests.unit import test_client as blocking
from tests.unit import test_client_resilience as resilience
from tests.unit.test_client import (
    ARTICLE,
    EXPECTED_DE_FAILURE,
    EXPECTED_EN,
    EXPECTED_FR,
    FakeSummarizerService,
    at_most,
    only_call,
)
from tests.unit.test_client_resilience import Replica, draining, overloaded

# The blocking client's fixtures: the same fakes answer both clients.
_isolated_environment = blocking._isolated_environment
fake = blocking.fake
health_servicer = blocking.health_servicer
address = blocking.address
replica = resilience.replica
second_replica = resilience.second_replica


async def test_summarize(address: str, fake: FakeSummarizerService) -> None:
    async with AsyncSummarizerClient(address, timeout=10) as client:
        result = await client.summarize(ARTICLE, ["en", "fr", "de"], mode="extractive", request_id="r1")

    assert result == SummarizeResult(
        request_id="req-42",
        source_language=DetectedLanguage(language="en", confidence=0.98, declared=False),
        summaries=[EXPECTED_EN, EXPECTED_FR],
        failures=[EXPECTED_DE_FAILURE],
        warnings=["declared language fr contradicts detected en"],
        total_duration_ms=16500.0,
    )
    request = only_call(fake, "Summarize")
    assert (list(request.target_languages), request.request_id) == (["en", "fr", "de"], "r1")
    assert 5.0 < fake.time_remaining[0] <= at_most(10.0)


async def test_stream_summarize(address: str, fake: FakeSummarizerService) -> None:
    async with AsyncSummarizerClient(address, timeout=10) as client:
        events = [event async for event in client.stream_summarize(ARTICLE, ["en", "fr", "de"])]

    assert events == [
        SourceLanguage(
            request_id="req-42", language="en", confidence=0.98, declared=False, warnings=["a note"]
        ),
        LanguageSummary(request_id="req-42", summary=EXPECTED_EN),
        LanguageSummary(request_id="req-42", summary=EXPECTED_FR),
        LanguageFailed(request_id="req-42", failure=EXPECTED_DE_FAILURE),
    ]
    only_call(fake, "StreamSummarize")


async def test_stream_yields_each_event_as_it_arrives(address: str, fake: FakeSummarizerService) -> None:
    fake.hold_stream = threading.Event()
    async with AsyncSummarizerClient(address, timeout=10) as client:
        events = client.stream_summarize(ARTICLE, ["en", "fr", "de"])
        first = await anext(events)
        # The server still holds the rest back: the first event came on its own.
        assert isinstance(first, SourceLanguage)
        fake.hold_stream.set()
        rest = [event async for event in events]

    assert fake.hold_released is True
    assert [type(event) for event in rest] == [LanguageSummary, LanguageSummary, LanguageFailed]


async def test_closing_the_stream_early_cancels_the_call(address: str, fake: FakeSummarizerService) -> None:
    fake.hold_stream = threading.Event()
    async with AsyncSummarizerClient(address, timeout=10) as client:
        events = client.stream_summarize(ARTICLE, ["en", "fr"])
        assert isinstance(await anext(events), SourceLanguage)

        await events.aclose()

        # The server is still held, so only a cancellation can have ended the call.
        assert await asyncio.to_thread(fake.stream_terminated.wait, 5)
    assert fake.hold_released is None


async def test_bad_options_fail_before_any_call(address: str, fake: FakeSummarizerService) -> None:
    async with AsyncSummarizerClient(address, timeout=10) as client:
        with pytest.raises(ValueError):
            await client.summarize(ARTICLE, mode="bogus")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            client.stream_summarize(ARTICLE, num_beams=0)
    assert fake.calls == []


async def test_translate_detect_and_models(address: str, fake: FakeSummarizerService) -> None:
    async with AsyncSummarizerClient(address, timeout=10, token="t0k") as client:
        translated = await client.translate(["Hello", "World"], ["fr", "de"])
        detected = await client.detect_language("Bonjour")
        models = await client.list_models()

    assert [t.text for t in translated.translations] == ["Bonjour", "Hallo", "Monde", "Welt"]
    assert (detected.language, detected.confidence) == ("fr", 0.9)
    assert models.profile == "embedded"
    assert [name for name, _ in fake.calls] == ["Translate", "DetectLanguage", "ListModels"]
    assert all(metadata["authorization"] == "Bearer t0k" for metadata in fake.metadata)


async def test_an_error_status_becomes_a_typed_error(address: str, fake: FakeSummarizerService) -> None:
    fake.error = (grpc.StatusCode.INVALID_ARGUMENT, "text: must not be empty", "req-9")

    async with AsyncSummarizerClient(address, timeout=10) as client:
        with pytest.raises(InvalidArgumentError) as unary:
            await client.summarize(ARTICLE)
        with pytest.raises(InvalidArgumentError) as streamed:
            [event async for event in client.stream_summarize(ARTICLE)]

    for caught in (unary, streamed):
        assert caught.value.request_id == "req-9"
        assert caught.value.details == "text: must not be empty"
        assert isinstance(caught.value.__cause__, grpc.RpcError)


async def test_health(address: str, health_servicer: health.HealthServicer) -> None:
    health_servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    async with AsyncSummarizerClient(address, timeout=10) as client:
        assert await client.check_health() == "NOT_SERVING"
        asyncio.get_running_loop().call_later(
            0.3, health_servicer.set, "", health_pb2.HealthCheckResponse.SERVING
        )
        await client.wait_ready(10)
        assert await client.check_health() == "SERVING"


async def test_unavailable_is_retried(replica: Replica) -> None:
    replica.fake.fail_next(draining(), draining())

    async with AsyncSummarizerClient(replica.address, timeout=10) as client:
        assert (await client.list_models()).profile == "a"
        replica.fake.fail_next(draining())
        events = [event async for event in client.stream_summarize(ARTICLE, ["fr"])]

    assert len(events) == 2
    assert replica.fake.calls == ["ListModels"] * 3 + ["StreamSummarize"] * 2


async def test_unavailable_after_the_first_event_ends_the_stream(replica: Replica) -> None:
    replica.fake.stream_breaks = draining("req-late")
    received = []

    async with AsyncSummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(UnavailableError) as caught:
            async for event in client.stream_summarize(ARTICLE, ["fr"]):
                received.append(event)

    assert [type(event) for event in received] == [SourceLanguage]
    assert caught.value.reason == "NOT_READY"


async def test_overloaded_is_retried_only_when_asked(replica: Replica) -> None:
    replica.fake.fail_next(overloaded(0.2))
    async with AsyncSummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(ResourceExhaustedError) as caught:
            await client.detect_language("Hello")
    assert caught.value.retry_after == 0.2

    replica.fake.fail_next(overloaded(0.2), overloaded(0.2))
    started = time.monotonic()
    async with AsyncSummarizerClient(replica.address, timeout=10, retry_overloaded=True) as client:
        assert (await client.detect_language("Hello")).language == "en"
    assert time.monotonic() - started >= 0.4
    assert replica.fake.calls == ["DetectLanguage"] * 4


async def test_round_robin_over_a_comma_list(replica: Replica, second_replica: Replica) -> None:
    async with AsyncSummarizerClient(f"{replica.address},{second_replica.address}", timeout=10) as client:
        profiles = [(await client.list_models()).profile for _ in range(20)]

    assert profiles.count("a") > 0 and profiles.count("b") > 0
