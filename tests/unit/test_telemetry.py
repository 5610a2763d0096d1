"""The telemetry observer, the Prometheus side of it, the runner's context and the access formats."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import aclosing, contextmanager

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service import metrics as metrics_module
from service import telemetry
from service.api.admission import Admission
from service.api.calls import refusal_reason
from service.api.observability import ACCESS_FIELDS, caller_trace_id
from service.api.prometheus import METRICS, ServerMetrics
from service.api.runner import Runner, StopSignal
from service.errors import (
    DeadlineError,
    InvalidInputError,
    ModelError,
    NotReadyError,
    OverloadedError,
    Reason,
    RequestCancelledError,
    UnauthenticatedError,
)
from service.logging_setup import ACCESS_ATTRIBUTE, JsonFormatter, TextFormatter
from service.metrics import Counters
from service.models.base import ModelDescription
from service.pipeline import SummarizeJob
from tests.fakes import FakeSummarizer, fake_pipeline


class RecordingObserver(telemetry.NullObserver):
    """A fake observer that writes down what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[object, ...]] = []
        self.attributes: list[tuple[str, dict[str, object]]] = []

    @contextmanager
    def stage(self, name: str, **attributes: telemetry.Attribute) -> Iterator[telemetry.Stage]:
        self.heard.append(("enter", name))
        self.attributes.append((name, attributes))
        try:
            yield telemetry.NULL_STAGE
        finally:
            self.heard.append(("exit", name))

    @contextmanager
    def languages(self, tags, **attributes: telemetry.Attribute) -> Iterator[telemetry.Stage]:  # type: ignore[no-untyped-def]
        self.heard.append(("languages", *tags))
        yield telemetry.NULL_STAGE

    def cache(self, kind: str, hit: bool) -> None:
        self.heard.append(("cache", kind, hit))


def test_outside_a_call_the_observer_does_nothing():
    observer = telemetry.current()
    assert observer is telemetry.NULL_OBSERVER
    with observer.stage(telemetry.SUMMARIZE, model="m") as stage:
        stage.annotate(tokens=3)
    observer.batch("m", 2, 10, 5)


def test_a_fanout_reports_to_every_observer_and_nests_its_stages():
    first, second = RecordingObserver(), RecordingObserver()
    both = telemetry.combine([first, None, second])
    with telemetry.observing(both):
        with telemetry.current().stage(telemetry.DETECT):
            telemetry.current().cache("detection", False)
    assert telemetry.current() is telemetry.NULL_OBSERVER  # restored after the block
    assert (
        first.heard
        == second.heard
        == [("enter", "detect"), ("cache", "detection", False), ("exit", "detect")]
    )
    assert telemetry.combine([None, first]) is first
    assert telemetry.combine([]) is telemetry.NULL_OBSERVER


async def test_the_runner_carries_the_calls_context_to_its_workers():
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    seen: list[str] = []

    def steps() -> Iterator[int]:
        try:
            for i in range(3):
                seen.append(marker.get())
                yield i
        finally:
            seen.append("closed in " + marker.get())

    runner = Runner(model_workers=2, light_workers=1)
    try:
        marker.set("call-1")
        assert await runner.light(marker.get) == "call-1"
        assert await runner.model(marker.get, stop=StopSignal(None)) == "call-1"
        items = runner.iterate(steps(), stop=StopSignal(None))
        async with aclosing(items):
            async for item in items:
                if item == 1:
                    break  # the consumer leaves early: the generator is closed on a worker
        assert seen == ["call-1", "call-1", "closed in call-1"]
    finally:
        runner.shutdown()


def _families(metrics: ServerMetrics) -> dict[str, object]:
    text = generate_latest(metrics.registry).decode("utf-8")
    names = [family.name for family in text_string_to_metric_families(text)]
    assert len(names) == len(set(names)), "a metric is exposed twice"
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_every_counter_the_server_keeps_is_exported_by_its_name(monkeypatch: pytest.MonkeyPatch):
    # A counter added to service/metrics.py later needs nothing here.
    monkeypatch.setattr(metrics_module, "COUNTER_NAMES", (*metrics_module.COUNTER_NAMES, "streams_stalled"))
    counters = Counters()
    counters.add("streams_stalled", 3)
    counters.add("auth_failures")
    metrics = ServerMetrics(counters, Admission(max_running=2, max_queue=1, metrics=counters))
    families = _families(metrics)
    for name in metrics_module.COUNTER_NAMES:
        assert f"summarizer_{name}" in families, name  # the parser drops the _total of counters
    text = generate_latest(metrics.registry).decode("utf-8")
    assert "summarizer_streams_stalled_total 3.0" in text
    assert "summarizer_auth_failures_total 1.0" in text
    assert "summarizer_requests_running 0.0" in text


def test_every_declared_metric_is_exposed_with_its_type():
    counters = Counters()
    metrics = ServerMetrics(counters, Admission(metrics=counters))
    metrics.describe_models(
        "p",
        [
            ModelDescription("m", "llm", "src", "ctranslate2", ("summarize",)),
            ModelDescription("tr", "extractive", "", "numpy", ("summarize",)),
        ],
        "cuda:0",
    )
    metrics.call_finished("Summarize", "OK", 0.2, None)
    metrics.admitted(0.01)
    metrics.language("fr", True, 0.5, True)
    observer = metrics.observer
    with observer.stage(telemetry.TRANSLATE):
        pass
    observer.cache("summary", True)
    observer.cache("summary", False)
    observer.batch("m", 3, 120, 40)
    families = _families(metrics)
    for spec in METRICS:
        exposed = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
        assert exposed in families, spec.name
        assert families[exposed].type == spec.kind, spec.name  # type: ignore[attr-defined]
    text = generate_latest(metrics.registry).decode("utf-8")
    assert 'summarizer_batch_rows_sum{model="m"} 3.0' in text
    assert 'summarizer_generated_tokens_total{model="m"} 40.0' in text
    assert 'summarizer_input_tokens_total{model="m"} 120.0' in text
    assert (
        'summarizer_model_info{backend="llm",device="cuda:0",model="m",profile="p",runtime="ctranslate2"} 1.0'
        in text
    )
    assert 'device="cpu",model="tr"' in text  # the extractive summarizer runs on no accelerator
    assert 'summarizer_stage_duration_seconds_count{stage="translate"} 1.0' in text


def test_refusals_are_counted_by_reason_and_failures_are_not():
    assert refusal_reason(InvalidInputError("text", "is empty", reason=Reason.EMPTY_TEXT)) == "EMPTY_TEXT"
    assert refusal_reason(OverloadedError("full", retry_after_s=1)) == "OVERLOADED"
    assert refusal_reason(NotReadyError("loading")) == "NOT_READY"
    assert refusal_reason(UnauthenticatedError("no")) == "UNAUTHENTICATED"
    for failure in (
        DeadlineError("late"),
        RequestCancelledError("gone"),
        ModelError("broke"),
        RuntimeError(),
    ):
        assert refusal_reason(failure) is None


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            (("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),),
            "0af7651916cd43dd8448eb211c80319c",
        ),
        ((("traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01"),), None),
        ((("traceparent", "not a trace"),), None),
        ((("x-request-id", "abc"),), None),
        (None, None),
    ],
)
def test_the_callers_trace_id_is_read_from_its_traceparent(metadata, expected):
    assert caller_trace_id(metadata) == expected


def _access_record() -> logging.LogRecord:
    fields = {
        "request_id": "r-1",
        "rpc": "Translate",
        "code": "OK",
        "duration_ms": 12.5,
        "source_language": None,
        "targets": ["fr", "de"],
        "text_chars": 42,
        "cached": False,
        "peer": "ipv4:127.0.0.1:5000",
        "trace_id": None,
    }
    assert list(fields) == list(ACCESS_FIELDS)
    record = logging.LogRecord(
        "service.access", logging.INFO, __file__, 1, "%s %s in %.1f ms", ("Translate", "OK", 12.5), None
    )
    record.request_id = "r-1"
    setattr(record, ACCESS_ATTRIBUTE, fields)
    return record


def test_an_access_line_in_json_has_a_key_per_field():
    entry = json.loads(JsonFormatter().format(_access_record()))
    assert entry["message"] == "Translate OK in 12.5 ms"
    assert {k: entry[k] for k in ACCESS_FIELDS} == getattr(_access_record(), ACCESS_ATTRIBUTE)


def test_an_access_line_in_text_lists_its_fields_after_the_message():
    line = TextFormatter("[%(request_id)s] %(message)s").format(_access_record())
    assert line == (
        "[r-1] Translate OK in 12.5 ms source_language=- targets=fr,de text_chars=42 cached=false "
        "peer=ipv4:127.0.0.1:5000 trace_id=-"
    )


def test_the_runner_context_copy_does_not_leak_between_calls():
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("leak", default="unset")

    async def call(name: str, runner: Runner) -> str:
        marker.set(name)
        await asyncio.sleep(0)
        return await runner.light(marker.get)

    async def both() -> list[str]:
        runner = Runner(model_workers=1, light_workers=1)
        try:
            return list(await asyncio.gather(call("a", runner), call("b", runner)))
        finally:
            runner.shutdown()

    assert asyncio.run(both()) == ["a", "b"]


def test_the_pipeline_reports_each_stage_language_and_cache_lookup_once():
    pipeline = fake_pipeline(summarizer=FakeSummarizer(languages=("en",)))
    german = "Der Stadtrat hat am Montag den Haushalt beschlossen. Die Schulen bekommen mehr Geld. " * 3
    job = SummarizeJob(text=german, target_languages=("en", "de", "fr"))
    observer = RecordingObserver()
    with telemetry.observing(observer):
        events = list(pipeline.run(pipeline.plan(job)))
    assert len(events) == 4
    assert [h for h in observer.heard if h[0] != "exit"] == [
        ("cache", "detection", False),
        ("enter", "detect"),
        ("cache", "summary", False),
        ("enter", "translate"),  # German into English first: the summarizer reads English only
        ("enter", "summarize"),
        ("languages", "en"),
        ("enter", "translate"),
        ("cache", "translation", False),
        ("languages", "de"),
        ("enter", "translate"),
        ("cache", "translation", False),
        ("languages", "fr"),
    ]
    pivot, summarize = observer.attributes[1], observer.attributes[2]
    assert pivot == (
        "translate",
        {"source_language": "de", "target_languages": ("en",), "models": ("fake-mt",), "pivot": True},
    )
    assert summarize == ("summarize", {"model": "fake-sum", "language": "en"})
    again = RecordingObserver()
    with telemetry.observing(again):
        plan = pipeline.plan(job)
        assert pipeline.cached_events(plan) is not None
    assert again.heard == [
        ("cache", "detection", True),
        ("cache", "summary", True),
        ("cache", "translation", True),
        ("cache", "translation", True),
    ]
