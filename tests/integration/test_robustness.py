"""Bad input, deadlines, cancellation, internal errors and logs, against a real server on 127.0.0.1.

Also fuzzes every RPC's request message with hypothesis: whatever arrives, the answer is one of the
allowed statuses and the server stays up.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from service.pipeline import Limits, SummarizationPipeline
from service.text.detect import LanguageDetector
from service.text.normalize import BIDI_CONTROLS, ZERO_WIDTH, clean_text
from summarizer.v1 import summarizer_service_pb2 as pb
from summarizer.v1 import summarizer_service_pb2_grpc as pb_grpc
from tests.fakes import FakeSummarizer, fake_pipeline
from tests.integration.conftest import ServerThread, server_settings
from tests.integration.test_api import details_of

# Servers elsewhere in the suite leave their event loops open (ServerThread.stop does not close
# them); gRPC keeps them alive for a while and the collector then finds them at an arbitrary moment,
# often inside a test here that makes a lot of garbage. That warning is not this module's doing:
# every server made here is stopped with `stop_server`, which closes its loop.
FOREIGN_LOOPS = pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")
pytestmark = [pytest.mark.integration, FOREIGN_LOOPS]

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
EN = (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")
_serial = itertools.count()
_DETECTOR = LanguageDetector()


def warm_pipeline(**kwargs) -> SummarizationPipeline:  # type: ignore[no-untyped-def]
    """A fake pipeline sharing one warmed-up language detector: loading one takes seconds."""
    _DETECTOR.warmup()
    return fake_pipeline(detector=_DETECTOR, **kwargs)


def article(body: str = EN) -> str:
    """A text no earlier call has seen, so that the result cache cannot answer it."""
    return f"Report number {next(_serial)} from the newsroom. {body}"


def stop_server(server: ServerThread) -> None:
    """Stop the server and close its event loop: a loop left open warns when it is collected."""
    server.stop(grace=0)
    if not server.thread.is_alive():
        server.loop.close()


def brief() -> pb.SummarizeRequest:
    """A short, fresh English article: planning it takes a millisecond, so the model starts at once."""
    return pb.SummarizeRequest(text=article("The council met on Monday."), source_language="en")


def wait_for(predicate, timeout: float = 5.0) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.002)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """Default admission limits and instant fake models."""
    server = ServerThread(server_settings(), warm_pipeline(limits=Limits(max_text_chars=20_000)))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def stub(server: ServerThread) -> Iterator[pb_grpc.SummarizerServiceStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.SummarizerServiceStub(channel)


class CheckRecorder(FakeSummarizer):
    """Records each stop check the model makes between its 10 ms steps: (when, the deadline, answer)."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.checks: list[tuple[float, float | None, bool]] = []

    def summarize(self, text, language, params):  # type: ignore[no-untyped-def]
        check = params.should_stop

        def recorded() -> bool:
            now = time.monotonic()
            answer = bool(check())
            self.checks.append((now, getattr(check, "deadline", None), answer))
            return answer

        return super().summarize(text, language, dataclasses.replace(params, should_stop=recorded))


@pytest.fixture()
def slow_server() -> Iterator[tuple[ServerThread, CheckRecorder]]:
    """One running slot and one queue place, in front of a summarizer that takes 5 s."""
    slow = CheckRecorder(languages=("en",), delay_s=5)
    server = ServerThread(
        server_settings(max_concurrent_requests=1, max_queue=1), warm_pipeline(summarizer=slow)
    )
    yield server, slow
    stop_server(server)


# -- invisible and control characters --------------------------------------------------------


def test_clean_text_strips_invisible_controls_and_refuses_binary_ones():
    hidden = "pay\u200bment to ac\u202ecount\u2066 now\ufeff"
    assert clean_text(hidden, "text") == "payment to account now"
    assert clean_text("tabs\tand\nlines\r\n\x0b\x0c stay", "text") == "tabs\tand\nlines\r\n\x0b\x0c stay"
    for bad in ("\x00", "\x01", "\x08", "\x0e", "\x1b", "\x1f", "\x7f"):
        with pytest.raises(Exception, match="CONTROL|control") as info:
            clean_text(f"fine text {bad} here", "texts[3]")
        assert getattr(info.value, "reason", "") == "CONTROL_CHARACTERS"
        assert getattr(info.value, "field", "") == "texts[3]"


@pytest.mark.parametrize(
    ("call", "request_", "field"),
    [
        ("Summarize", pb.SummarizeRequest(text=EN[:200] + "\x00" + EN[200:]), "text"),
        (
            "Summarize",
            pb.SummarizeRequest(text="<p>News\x00</p>", input_format=pb.INPUT_FORMAT_HTML),
            "text",
        ),
        ("StreamSummarize", pb.StreamSummarizeRequest(text="\x00" + EN), "text"),
        (
            "Translate",
            pb.TranslateRequest(texts=["Hello there.", "bad\x1b[31m"], target_languages=["fr"]),
            "texts[1]",
        ),
        ("DetectLanguage", pb.DetectLanguageRequest(text="Guten\x00 Morgen"), "text"),
    ],
)
def test_control_characters_are_invalid_argument(stub, call, request_, field):
    with pytest.raises(grpc.RpcError) as info:
        response = getattr(stub, call)(request_, timeout=10)
        list(response) if call == "StreamSummarize" else None
    error = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = details_of(error)
    assert found["ErrorInfo"].reason == "CONTROL_CHARACTERS"
    assert found["BadRequest"].field_violations[0].field == field


def test_zero_width_and_bidi_controls_are_stripped_before_processing(stub):
    words = "Officials confirmed the bridge reopened on Monday after repairs."
    noisy = "".join(c + (ZERO_WIDTH + BIDI_CONTROLS)[i % 14] for i, c in enumerate(words))
    response = stub.Summarize(
        pb.SummarizeRequest(text=f"{noisy} {article()}", options=pb.SummaryOptions(max_sentences=6)),
        timeout=10,
    )
    assert response.summaries[0].text == "fake-sum[en]: " + " ".join(words.split()[:6])
    translated = stub.Translate(
        pb.TranslateRequest(texts=[noisy], source_language="en", target_languages=["fr"]), timeout=10
    )
    assert translated.translations[0].text == f"fr({words})"
    assert stub.DetectLanguage(pb.DetectLanguageRequest(text=noisy), timeout=10).language.language == "en"
    with pytest.raises(grpc.RpcError) as info:
        stub.Summarize(pb.SummarizeRequest(text=ZERO_WIDTH + " " + BIDI_CONTROLS), timeout=10)
    assert details_of(info.value)["ErrorInfo"].reason == "EMPTY_TEXT"


@pytest.mark.parametrize("request_id", ["trace-1\n", "\ntrace-1", "trace 1", "x" * 129, "trace-é"])
def test_a_request_id_that_cannot_travel_as_metadata_is_invalid_argument(stub, request_id):
    """Found by the fuzzer: "0\n" once passed the check and broke the trailing metadata (INTERNAL)."""
    request_ = pb.TranslateRequest(texts=["Hello."], target_languages=["fr"], request_id=request_id)
    with pytest.raises(grpc.RpcError) as info:
        stub.Translate(request_, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(info.value)["BadRequest"].field_violations[0].field == "request_id"


# -- internal errors and logs ----------------------------------------------------------------


class _Exploding(FakeSummarizer):
    def summarize(self, text, language, params):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret path /srv/weights/model.bin exploded")


def test_internal_errors_carry_a_request_id_and_no_internals(caplog):
    server = ServerThread(server_settings(), warm_pipeline(summarizer=_Exploding(languages=("en",))))
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = pb_grpc.SummarizerServiceStub(channel)
            with caplog.at_level(logging.INFO), pytest.raises(grpc.RpcError) as info:
                stub.Summarize(pb.SummarizeRequest(text=article(), request_id="trace-7"), timeout=10)
    finally:
        stop_server(server)
    error = info.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "trace-7" in error.details() and "secret" not in error.details() and "/srv" not in error.details()
    assert ("x-request-id", "trace-7") in error.trailing_metadata()
    assert details_of(error)["ErrorInfo"].metadata["request_id"] == "trace-7"
    assert any("secret path" in (r.exc_text or "") or r.exc_info for r in caplog.records)  # logged, not sent


def test_article_text_never_reaches_the_logs_at_info(stub, caplog):
    phrase = "Zebracorn quartermasters unanimously ratified the pineapple accord"
    text = f"{phrase}. {article()}"
    with caplog.at_level(logging.INFO):
        response = stub.Summarize(
            pb.SummarizeRequest(text=text, target_languages=["en", "fr", "de"]), timeout=10
        )
        assert phrase.split()[0] in response.summaries[0].text  # the text did go through
        stream = pb.StreamSummarizeRequest(text=text, target_languages=["es"])
        assert len(list(stub.StreamSummarize(stream, timeout=10))) == 2
        stub.Translate(pb.TranslateRequest(texts=[phrase], target_languages=["fr"]), timeout=10)
        stub.DetectLanguage(pb.DetectLanguageRequest(text=phrase), timeout=10)
        for bad in (
            pb.SummarizeRequest(text=text, target_languages=["fr", "fr"]),
            pb.SummarizeRequest(text=text + "\x00"),
            pb.SummarizeRequest(text=text, source_language=phrase),
            pb.SummarizeRequest(text=text, options=pb.SummaryOptions(max_tokens=5000)),
        ):
            with pytest.raises(grpc.RpcError):
                stub.Summarize(bad, timeout=10)
    logged = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any(r.name == "service.access" for r in logged)  # the capture did see the server
    for record in logged:
        rendered = record.getMessage() + (record.exc_text or "")
        for word in ("Zebracorn", "quartermasters", "pineapple accord"):
            assert word not in rendered, record


# -- deadlines and cancellation --------------------------------------------------------------


def test_a_200ms_deadline_stops_the_model_within_one_step(slow_server):
    server, slow = slow_server
    metrics = server.server.metrics
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Summarize(brief(), timeout=0.2)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: metrics["generations_stopped"] == 1)
        assert time.monotonic() - started < 2.0  # far from the fake's 5 s, even on a busy machine
        wait_for(lambda: server.server.servicer.admission.running == 0)
    assert len(slow.calls) == 1
    # Within one step: every check before the deadline said "go on", and the first check after it
    # said "stop" and was the last: no decoding step began after the deadline.
    *before, (last_at, deadline, stopped) = slow.checks
    assert deadline is not None and stopped and last_at >= deadline
    assert before and all(at < deadline and not answer for at, _, answer in before)


def test_a_queued_request_past_its_deadline_is_dropped_before_it_runs(slow_server):
    server, slow = slow_server
    metrics = server.server.metrics
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        running = stub.Summarize.future(brief(), timeout=0.6)
        wait_for(lambda: len(slow.calls) == 1)
        with pytest.raises(grpc.RpcError) as info:
            stub.Summarize(brief(), timeout=0.2)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: metrics["requests_expired_in_queue"] == 1)
        with pytest.raises(grpc.RpcError) as info:
            running.result()
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for(lambda: metrics["generations_stopped"] == 1)
    assert len(slow.calls) == 1  # the queued request never reached the model


def test_a_cancelled_stream_frees_its_worker_for_the_next_request(slow_server):
    server, slow = slow_server
    metrics = server.server.metrics
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        stream = stub.StreamSummarize(pb.StreamSummarizeRequest(text=article()), timeout=30)
        assert next(stream).WhichOneof("event") == "source_language"
        wait_for(lambda: len(slow.calls) == 1)
        slow.delay_s = 0.0  # the next request is quick; the running one still has ~5 s to go
        cancelled = time.monotonic()
        stream.cancel()
        wait_for(lambda: metrics["generations_stopped"] == 1)
        # One running slot: the next request gets it only once the stream has let go.
        response = stub.Summarize(pb.SummarizeRequest(text=article()), timeout=5)
        assert response.summaries[0].text.startswith("fake-sum[en]:")
        assert time.monotonic() - cancelled < 2.5  # the cancelled run had ~5 s to go
    assert len(slow.calls) == 2


def test_past_running_and_queued_the_next_request_is_refused_at_once(slow_server):
    server, slow = slow_server
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.SummarizerServiceStub(channel)
        admission = server.server.servicer.admission
        running = stub.Summarize.future(pb.SummarizeRequest(text=article()), timeout=30)
        wait_for(lambda: len(slow.calls) == 1)
        queued = stub.Translate.future(
            pb.TranslateRequest(texts=["Good morning."], target_languages=["fr"]), timeout=30
        )
        wait_for(lambda: admission.queued == 1)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Summarize(pb.SummarizeRequest(text=article()), timeout=30)
        assert time.monotonic() - started < 1.0  # not after the running one's 5 s
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        found = details_of(info.value)
        assert found["ErrorInfo"].reason == "OVERLOADED"
        assert found["RetryInfo"].retry_delay.ToMilliseconds() >= 50
        # Cheap calls skip admission.
        assert stub.DetectLanguage(pb.DetectLanguageRequest(text=EN), timeout=5).language.language == "en"
        assert stub.ListModels(pb.ListModelsRequest(), timeout=5).profile == "fake"
        # Callers that give up free their running slot and their queue place.
        queued.cancel()
        running.cancel()
        wait_for(lambda: (admission.running, admission.queued) == (0, 0))
        wait_for(lambda: server.server.metrics["generations_stopped"] == 1)
    assert server.server.metrics["requests_rejected"] == 1


# -- fuzzing ---------------------------------------------------------------------------------

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
FUZZ = dict(
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Requests come in three mixes: every field plausible (reaching past validation into the pipeline),
# every field arbitrary, and each field independently either, so that validation is probed alone too.
_invisible = st.sampled_from(list(ZERO_WIDTH + BIDI_CONTROLS) + ["\n", " ", "\t", "\r\n"])
_refused = st.sampled_from(["\x00", "\x01", "\x1b", "\x7f"])
_prose = st.sampled_from(
    [
        "The council approved the budget on Tuesday after a long debate.",
        "Le gouvernement a annoncé de nouvelles mesures pour les agriculteurs.",
        "Die Regierung hat am Montag neue Maßnahmen angekündigt.",
        "El gobierno anunció nuevas medidas económicas el lunes.",
        "政府宣布了新的措施。",
        "<p>Breaking <b>news</b> &amp; more &#x202E;</p>",
    ]
)
_any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
_printable = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20)
_int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_uint32 = st.integers(min_value=0, max_value=2**32 - 1)


class Field:
    def __init__(self, valid: st.SearchStrategy, wild: st.SearchStrategy) -> None:
        self.valid, self.wild, self.either = valid, wild, st.one_of(valid, wild)


TEXT = Field(
    st.lists(st.one_of(_prose, _prose, _prose, _invisible, _printable), min_size=1, max_size=6).map("".join),
    st.lists(st.one_of(_prose, _refused, _any_text), max_size=8).map("".join),
)
TAG = Field(
    st.sampled_from(["en", "fr", "de", "es", "zh-Hans", "pt-BR", "EN", "en_US"]),
    st.one_of(
        st.sampled_from(["", "und", "xx", "tlh", "a" * 40, "en-", "-en", "e\u200bn"]), st.text(max_size=12)
    ),
)
SOURCE = Field(st.sampled_from(["", "", "en", "fr"]), TAG.wild)
TARGETS = Field(
    st.lists(TAG.valid, max_size=3, unique_by=lambda t: t[:2].lower()),
    st.lists(st.one_of(TAG.valid, TAG.wild), max_size=20),
)
REQUEST_ID = Field(
    st.one_of(st.just(""), st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True)), st.text(max_size=140)
)


def _options(mix: str) -> st.SearchStrategy:
    def pick(valid: st.SearchStrategy, wild: st.SearchStrategy) -> st.SearchStrategy:
        return getattr(Field(valid, wild), mix)

    return st.builds(
        pb.SummaryOptions,
        mode=pick(st.integers(0, 2), _int32),
        length=pick(st.integers(0, 3), _int32),
        max_tokens=pick(st.integers(0, 1024), _uint32),
        max_sentences=pick(st.integers(0, 50), _uint32),
        num_beams=pick(st.integers(0, 8), _uint32),
    )


def summarize_requests(kind):  # type: ignore[no-untyped-def]
    def build(mix: str) -> st.SearchStrategy:
        return st.builds(
            kind,
            text=getattr(TEXT, mix),
            source_language=getattr(SOURCE, mix),
            target_languages=getattr(TARGETS, mix),
            options=_options(mix),
            request_id=getattr(REQUEST_ID, mix),
            input_format=getattr(Field(st.integers(0, 2), _int32), mix),
        )

    return st.one_of(build("valid"), build("valid"), build("valid"), build("either"), build("wild"))


def translate_requests() -> st.SearchStrategy:
    def build(mix: str) -> st.SearchStrategy:
        texts = Field(st.lists(TEXT.valid, min_size=1, max_size=4), st.lists(TEXT.wild, max_size=70))
        return st.builds(
            pb.TranslateRequest,
            texts=getattr(texts, mix),
            target_languages=getattr(Field(TARGETS.valid.filter(bool), TARGETS.wild), mix),
            source_language=getattr(SOURCE, mix),
            request_id=getattr(REQUEST_ID, mix),
        )

    return st.one_of(build("valid"), build("valid"), build("valid"), build("either"), build("wild"))


def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    """The call's status code; `--hypothesis-show-statistics` shows how often each came back."""
    try:
        call()
    except grpc.RpcError as error:
        code = error.code()
        reason = details_of(error).get("ErrorInfo")
        event(f"{code.name} {reason.reason if reason else ''}".strip())
        return code
    event("OK")
    return grpc.StatusCode.OK


@settings(max_examples=350, **FUZZ)
@given(request_=summarize_requests(pb.SummarizeRequest))
def test_fuzz_summarize(stub, request_):
    assert _code(lambda: stub.Summarize(request_, timeout=10)) in ALLOWED


@settings(max_examples=250, **FUZZ)
@given(request_=summarize_requests(pb.StreamSummarizeRequest))
def test_fuzz_stream_summarize(stub, request_):
    assert _code(lambda: list(stub.StreamSummarize(request_, timeout=10))) in ALLOWED


@settings(max_examples=250, **FUZZ)
@given(request_=translate_requests())
def test_fuzz_translate(stub, request_):
    assert _code(lambda: stub.Translate(request_, timeout=10)) in ALLOWED


@settings(max_examples=150, **FUZZ)
@given(text=TEXT.either)
def test_fuzz_detect_language(stub, text):
    assert _code(lambda: stub.DetectLanguage(pb.DetectLanguageRequest(text=text), timeout=10)) in ALLOWED


RAW_METHODS = ("Summarize", "StreamSummarize", "Translate", "DetectLanguage", "ListModels")


@settings(max_examples=150, **FUZZ)
@given(method=st.sampled_from(RAW_METHODS), payload=st.binary(max_size=64))
def test_fuzz_raw_bytes_to_every_rpc(server, method, payload):
    """Bytes that may not be a request at all: corrupt wire format, strings that are not UTF-8."""
    with grpc.insecure_channel(server.target) as channel:
        path = f"/summarizer.v1.SummarizerService/{method}"
        if method == "StreamSummarize":
            stream = channel.unary_stream(path, request_serializer=None, response_deserializer=None)
            code = _code(lambda: list(stream(payload, timeout=10)))
        else:
            call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
            code = _code(lambda: call(payload, timeout=10))
    assert code in ALLOWED


def test_a_corrupt_request_is_invalid_argument_with_a_request_id(server):
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary("/summarizer.v1.SummarizerService/Summarize")
        with pytest.raises(grpc.RpcError) as info:
            call(b"\x0a\x02\xff\xfe", timeout=10)  # field 1 (text) holding bytes that are not UTF-8
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = details_of(info.value)
    assert found["ErrorInfo"].reason == "MALFORMED_REQUEST" and found["ErrorInfo"].metadata["request_id"]
    assert found["BadRequest"].field_violations[0].field == "request"


def test_the_server_is_still_serving_after_the_fuzzing(server, stub):
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert stub.Summarize(pb.SummarizeRequest(text=article()), timeout=10).summaries
    assert threading.active_count() < 100
