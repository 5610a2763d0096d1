"""summarizer_client under failure: retries, load balancing, and the details errors carry.

Fake replicas (in-process servers on 127.0.0.1) fail on a script with the statuses the real
server sends, built by the server's own `rich_status`, so the client is held to what it will meet.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from grpc_status import rpc_status

from service import errors
from service.api.status import rich_status
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from summarizer_client import (
    FieldViolation,
    InvalidArgumentError,
    LanguageSummary,
    ResourceExhaustedError,
    SourceLanguage,
    SummarizerClient,
    SummarizerClientError,
    UnavailableError,
)
from summarizer_client._channel import ChannelSettings, normalise_target

ARTICLE = "Rain fell on Paris on Monday. The Seine rose by a metre."
STREAM = [
    pb.StreamSummarizeResponse(request_id="req-s", source_language=pb.DetectedLanguage(language="en")),
    pb.StreamSummarizeResponse(request_id="req-s", summary=pb.Summary(language="fr", text="Il a plu.")),
]


def status_of(exc: errors.SummarizerError, request_id: str) -> grpc.Status:
    """The status the real server sends for `exc`, with its google.rpc details."""
    return rpc_status.to_status(rich_status(exc, request_id))


class FakeReplica(pb_grpc.SummarizerServiceServicer):
    """A stand-in for one server: fails calls with the scripted statuses, in order, then answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.script: list[grpc.Status] = []
        # StreamSummarize fails with this after its first message when set.
        self.stream_breaks: grpc.Status | None = None
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def fail_next(self, *statuses: grpc.Status) -> None:
        with self._lock:
            self.script.extend(statuses)

    def _attempt(self, method: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append(method)
            failure = self.script.pop(0) if self.script else None
        if failure is not None:
            context.abort_with_status(failure)

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._attempt("ListModels", context)
        return pb.ListModelsResponse(profile=self.name)

    def DetectLanguage(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._attempt("DetectLanguage", context)
        return pb.DetectLanguageResponse(language=pb.DetectedLanguage(language="en", confidence=0.9))

    def StreamSummarize(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._attempt("StreamSummarize", context)
        yield STREAM[0]
        if self.stream_breaks is not None:
            context.abort_with_status(self.stream_breaks)
        yield from STREAM[1:]


class Replica:
    def __init__(self, name: str) -> None:
        self.fake = FakeReplica(name)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_SummarizerServiceServicer_to_server(self.fake, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait()


@pytest.fixture
def replica() -> Iterator[Replica]:
    server = Replica("a")
    yield server
    server.stop()


@pytest.fixture
def second_replica() -> Iterator[Replica]:
    server = Replica("b")
    yield server
    server.stop()


def draining(request_id: str = "req-d") -> grpc.Status:
    return status_of(errors.NotReadyError("the server is shutting down"), request_id)


def overloaded(retry_after_s: float, request_id: str = "req-o") -> grpc.Status:
    return status_of(errors.OverloadedError("the server is busy", retry_after_s=retry_after_s), request_id)


# -- UNAVAILABLE: retried by gRPC's retry policy ----------------------------------------------


def test_unavailable_is_retried_until_the_server_answers(replica: Replica) -> None:
    replica.fake.fail_next(draining(), draining())

    with SummarizerClient(replica.address, timeout=10) as client:
        assert client.list_models().profile == "a"

    assert replica.fake.calls == ["ListModels"] * 3


def test_unavailable_gives_up_after_max_attempts(replica: Replica) -> None:
    replica.fake.fail_next(*(draining() for _ in range(10)))

    with SummarizerClient(replica.address, timeout=10, max_attempts=3) as client:
        with pytest.raises(UnavailableError) as caught:
            client.list_models()

    assert replica.fake.calls == ["ListModels"] * 3
    assert caught.value.reason == "NOT_READY"
    assert caught.value.request_id == "req-d"


def test_one_attempt_means_no_retry(replica: Replica) -> None:
    replica.fake.fail_next(draining())

    with SummarizerClient(replica.address, timeout=10, max_attempts=1) as client:
        with pytest.raises(UnavailableError):
            client.list_models()
        # The script is spent: the next call succeeds.
        assert client.list_models().profile == "a"

    assert replica.fake.calls == ["ListModels"] * 2


def test_a_stream_is_retried_before_its_first_response(replica: Replica) -> None:
    replica.fake.fail_next(draining())

    with SummarizerClient(replica.address, timeout=10) as client:
        events = list(client.stream_summarize(ARTICLE, ["fr"]))

    assert [type(event) for event in events] == [SourceLanguage, LanguageSummary]
    assert replica.fake.calls == ["StreamSummarize"] * 2


def test_a_stream_is_not_retried_after_its_first_response(replica: Replica) -> None:
    replica.fake.stream_breaks = draining("req-late")
    received = []

    with SummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(UnavailableError) as caught:
            for event in client.stream_summarize(ARTICLE, ["fr"]):
                received.append(event)

    assert [type(event) for event in received] == [SourceLanguage]
    assert replica.fake.calls == ["StreamSummarize"]
    assert caught.value.request_id == "req-late"


# -- RESOURCE_EXHAUSTED: RetryInfo honoured only on request -----------------------------------


def test_overloaded_is_not_retried_by_default(replica: Replica) -> None:
    replica.fake.fail_next(overloaded(0.25))

    with SummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(ResourceExhaustedError) as caught:
            client.detect_language("Hello")

    error = caught.value
    assert (error.reason, error.retry_after, error.request_id) == ("OVERLOADED", 0.25, "req-o")
    assert error.details == "the server is busy"
    assert replica.fake.calls == ["DetectLanguage"]


def test_overloaded_waits_the_server_delay_when_asked(replica: Replica) -> None:
    replica.fake.fail_next(overloaded(0.3), overloaded(0.3))

    started = time.monotonic()
    with SummarizerClient(replica.address, timeout=10, retry_overloaded=True) as client:
        assert client.detect_language("Hello").language == "en"

    assert time.monotonic() - started >= 0.6
    assert replica.fake.calls == ["DetectLanguage"] * 3


def test_overloaded_retries_are_bounded(replica: Replica) -> None:
    replica.fake.fail_next(*(overloaded(0.05) for _ in range(5)))

    with SummarizerClient(
        replica.address, timeout=10, retry_overloaded=True, overloaded_attempts=2
    ) as client:
        with pytest.raises(ResourceExhaustedError):
            client.detect_language("Hello")

    assert replica.fake.calls == ["DetectLanguage"] * 2


def test_overloaded_wait_never_outlasts_the_deadline(replica: Replica) -> None:
    replica.fake.fail_next(overloaded(5.0))

    started = time.monotonic()
    with SummarizerClient(replica.address, timeout=1, retry_overloaded=True) as client:
        with pytest.raises(ResourceExhaustedError) as caught:
            client.detect_language("Hello")

    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 5.0
    assert replica.fake.calls == ["DetectLanguage"]


def test_resource_exhausted_without_retry_info_is_not_retried(replica: Replica) -> None:
    bare = rpc_status.to_status(
        status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="big")
    )
    replica.fake.fail_next(bare)

    with SummarizerClient(replica.address, timeout=10, retry_overloaded=True) as client:
        with pytest.raises(ResourceExhaustedError) as caught:
            client.detect_language("Hello")

    assert caught.value.retry_after is None
    assert replica.fake.calls == ["DetectLanguage"]


def test_an_overloaded_stream_is_retried_when_asked(replica: Replica) -> None:
    replica.fake.fail_next(overloaded(0.1))

    with SummarizerClient(replica.address, timeout=10, retry_overloaded=True) as client:
        events = list(client.stream_summarize(ARTICLE, ["fr"]))

    assert len(events) == 2
    assert replica.fake.calls == ["StreamSummarize"] * 2


# -- what an error carries --------------------------------------------------------------------


def test_an_invalid_argument_names_the_field(replica: Replica) -> None:
    replica.fake.fail_next(
        status_of(
            errors.UnsupportedLanguageError("target_languages[1]", "'xx' is not supported by this profile"),
            "req-i",
        )
    )

    with SummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.detect_language("Hello")

    error = caught.value
    assert error.reason == "UNSUPPORTED_LANGUAGE"
    assert error.domain == "summarizer.v1"
    assert error.field_violations == [
        FieldViolation("target_languages[1]", "'xx' is not supported by this profile")
    ]
    assert error.retry_after is None
    assert error.request_id == "req-i"
    assert str(error) == (
        "INVALID_ARGUMENT: target_languages[1]: 'xx' is not supported by this profile (request id req-i)"
    )


def test_an_internal_error_carries_its_request_id_from_error_info(replica: Replica) -> None:
    replica.fake.fail_next(status_of(RuntimeError("boom"), "req-x"))

    with SummarizerClient(replica.address, timeout=10) as client:
        with pytest.raises(SummarizerClientError) as caught:
            client.list_models()

    assert caught.value.code == grpc.StatusCode.INTERNAL
    assert (caught.value.reason, caught.value.request_id) == ("INTERNAL", "req-x")
    assert caught.value.field_violations == []
    assert "boom" not in str(caught.value)


# -- targets and load balancing ---------------------------------------------------------------


@pytest.mark.parametrize("form", ["ipv4:{a},{b}", "{a},{b}"])
def test_round_robin_spreads_calls_over_a_comma_list(
    replica: Replica, second_replica: Replica, form: str
) -> None:
    target = form.format(a=replica.address, b=second_replica.address)

    with SummarizerClient(target, timeout=10) as client:
        profiles = [client.list_models().profile for _ in range(20)]

    assert profiles.count("a") > 0 and profiles.count("b") > 0
    assert len(replica.fake.calls) + len(second_replica.fake.calls) == 20


def test_pick_first_sends_every_call_to_one_server(replica: Replica, second_replica: Replica) -> None:
    target = f"ipv4:{replica.address},{second_replica.address}"

    with SummarizerClient(target, timeout=10, load_balancing="pick_first") as client:
        profiles = {client.list_models().profile for _ in range(10)}

    assert len(profiles) == 1


def test_calls_go_on_while_one_replica_drains_and_stops(replica: Replica, second_replica: Replica) -> None:
    """A rolling restart: one replica refuses new calls while it drains, then stops; no call fails."""
    target = f"ipv4:{replica.address},{second_replica.address}"
    with SummarizerClient(target, timeout=10) as client:
        before = [client.list_models().profile for _ in range(10)]
        replica.fake.fail_next(*(draining() for _ in range(100)))
        refused_before = len(replica.fake.calls)
        during = [client.list_models().profile for _ in range(10)]
        refused = len(replica.fake.calls) - refused_before
        replica.server.stop(grace=1.0)
        after = [client.list_models().profile for _ in range(10)]

    assert {"a", "b"} == set(before)
    # Round robin kept offering the draining replica calls; each refusal was retried on the other one.
    assert refused > 0
    assert during == after == ["b"] * 10


def test_service_config_enables_retries_and_round_robin() -> None:
    options = dict(ChannelSettings().options())
    config = json.loads(options["grpc.service_config"])

    assert options["grpc.enable_retries"] == 1
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    (method,) = config["methodConfig"]
    assert method["name"] == [{"service": "summarizer.v1.SummarizerService"}]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert method["retryPolicy"]["maxAttempts"] == 5
    without_retries = json.loads(dict(ChannelSettings(max_attempts=1).options())["grpc.service_config"])
    assert "retryPolicy" not in without_retries["methodConfig"][0]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("[::1]:1, [::1]:2", "ipv6:[::1]:1,[::1]:2"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("dns:///summarizer.internal:50051", "dns:///summarizer.internal:50051"),
        ("localhost:50051", "localhost:50051"),
        ("a.example:1,b.example:2", "a.example:1,b.example:2"),
    ],
)
def test_targets(given: str, expected: str) -> None:
    assert normalise_target(given) == expected


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_attempts": 0},
        {"max_attempts": 6},
        {"load_balancing": "random"},
        {"overloaded_attempts": 0},
        {"client_cert": b"pem"},
        {"server_name": "example.org"},
    ],
)
def test_bad_client_settings_fail_at_once(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SummarizerClient("127.0.0.1:1", **arguments)
