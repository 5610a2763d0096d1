"""The server's Prometheus metrics: what they are, how they are fed, and the /metrics endpoint.

Every series is declared once, in `METRICS`, which docs/operations.md is generated from. Each
server keeps its metrics in a `CollectorRegistry` of its own (never the process-wide default), so
that several servers can run in one process, as the tests do. The metrics are fed three ways:

- per call, by the observability interceptor (`call_finished`, `admitted`, `language`);
- by the pipeline and the models, through the telemetry observer `observer` (stages, caches,
  model batches);
- at scrape time, from what the server already keeps: the admission's running and queued
  requests, and every counter of `Counters`, whatever counters it holds, as
  `summarizer_<name>_total`.

Labels stay bounded: RPC names, status codes, stage names, `Reason` members, cache kinds, the
profile's model names and the profile's languages; never request ids or text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from service.api.admission import Admission
from service.metrics import Counters
from service.models.base import ModelDescription
from service.telemetry import NULL_STAGE, Attribute, Stage

PREFIX = "summarizer_"

# Seconds: from a cached answer (milliseconds) to a long article into many languages on a CPU (minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ROW_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


@dataclass(frozen=True)
class MetricSpec:
    """One metric as it is exposed: its full name, type, labels and help text."""

    name: str
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    fed_by: str = "the server"  # for the operations guide: where the figure comes from


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "summarizer_requests_total",
        "counter",
        ("rpc", "code"),
        "Calls to summarizer.v1.SummarizerService that ended, by method and gRPC status code "
        "(CANCELLED: the caller went away).",
        fed_by="every call",
    ),
    MetricSpec(
        "summarizer_request_duration_seconds",
        "histogram",
        ("rpc",),
        "Time from a call's arrival to its end, whatever its status.",
        DURATION_BUCKETS,
        fed_by="every call",
    ),
    MetricSpec(
        "summarizer_stage_duration_seconds",
        "histogram",
        ("stage",),
        "Time spent in each stage of a call: detect, summarize, translate (model work; cache hits "
        "skip the stage).",
        DURATION_BUCKETS,
        fed_by="the pipeline",
    ),
    MetricSpec(
        "summarizer_time_to_first_language_seconds",
        "histogram",
        (),
        "StreamSummarize: time from the call's arrival to its first language (summary or failure) "
        "being ready to send.",
        DURATION_BUCKETS,
        fed_by="every StreamSummarize call",
    ),
    MetricSpec(
        "summarizer_time_to_language_seconds",
        "histogram",
        ("language",),
        "Summarize and StreamSummarize: time from the call's arrival until each target language was ready.",
        DURATION_BUCKETS,
        fed_by="every language of a summary call",
    ),
    MetricSpec(
        "summarizer_languages_total",
        "counter",
        ("language", "outcome"),
        "Target languages answered by Summarize and StreamSummarize; outcome is summary or failure.",
        fed_by="every language of a summary call",
    ),
    MetricSpec(
        "summarizer_requests_running",
        "gauge",
        (),
        "Requests holding a running slot now (Summarize, StreamSummarize, Translate).",
        fed_by="admission, at scrape time",
    ),
    MetricSpec(
        "summarizer_requests_queued",
        "gauge",
        (),
        "Requests waiting for a running slot now.",
        fed_by="admission, at scrape time",
    ),
    MetricSpec(
        "summarizer_queue_wait_seconds",
        "histogram",
        (),
        "Time from a call's arrival until it got a running slot (admitted calls only).",
        WAIT_BUCKETS,
        fed_by="every admitted call",
    ),
    MetricSpec(
        "summarizer_rejected_total",
        "counter",
        ("reason",),
        "Calls refused, by ErrorInfo reason: invalid requests (EMPTY_TEXT, UNSUPPORTED_LANGUAGE, ...), "
        "OVERLOADED, REQUEST_TOO_LARGE, NOT_READY, UNAUTHENTICATED. Deadlines, cancellations and model "
        "failures are not refusals; they show in summarizer_requests_total.",
        fed_by="every refused call",
    ),
    MetricSpec(
        "summarizer_cache_hits_total",
        "counter",
        ("kind",),
        "Parts of answers found in the result cache, by kind: detection, summary, translation.",
        fed_by="the pipeline",
    ),
    MetricSpec(
        "summarizer_cache_misses_total",
        "counter",
        ("kind",),
        "Parts of answers not in the result cache (made by a model), by kind.",
        fed_by="the pipeline",
    ),
    MetricSpec(
        "summarizer_batch_rows",
        "histogram",
        ("model",),
        "Rows (sequences) in each batched model run; concurrent requests share batches.",
        ROW_BUCKETS,
        fed_by="the batching models (CTranslate2)",
    ),
    MetricSpec(
        "summarizer_input_tokens_total",
        "counter",
        ("model",),
        "Prompt tokens sent to each batched model.",
        fed_by="the batching models (CTranslate2)",
    ),
    MetricSpec(
        "summarizer_generated_tokens_total",
        "counter",
        ("model",),
        "Tokens generated by each batched model.",
        fed_by="the batching models (CTranslate2)",
    ),
    MetricSpec(
        "summarizer_model_info",
        "gauge",
        ("profile", "model", "backend", "runtime", "device"),
        "1 for each model the server loaded.",
        fed_by="start-up, once the models are loaded",
    ),
)

#: Produced at scrape time by `_ServerState`, not built as metric objects.
_SCRAPED = ("summarizer_requests_running", "summarizer_requests_queued")


def counter_metric_name(counter: str) -> str:
    """The exposed name of one of the server's `Counters`."""
    return f"{PREFIX}{counter}_total"


# What the server's counters count, where a word more helps; a counter not named here is exported
# all the same, with its name as its help.
_COUNTER_HELP = {
    "requests_admitted": "Requests that got a running slot, at once or after queueing.",
    "requests_rejected": "Requests refused at once because the running slots and the queue were full "
    "(RESOURCE_EXHAUSTED).",
    "requests_expired_in_queue": "Requests dropped before running: their deadline passed while they "
    "waited for a slot.",
    "generations_stopped": "Model work stopped early at a decoding step: the caller's deadline passed "
    "or the caller went away.",
    "auth_failures": "Calls refused for a missing or wrong bearer token.",
    "requests_too_large": "Requests refused at once: their estimated memory is more than the whole budget "
    "(RESOURCE_EXHAUSTED, REQUEST_TOO_LARGE).",
    "requests_refused_draining": "Requests refused with UNAVAILABLE because the server was draining: "
    "queued, or arriving, when the shutdown began.",
    "streams_send_timed_out": "Streams let go of because their client took no message within the send "
    "timeout (--stream-send-timeout-s).",
}


def counter_help(counter: str) -> str:
    return _COUNTER_HELP.get(
        counter, f"The server's {counter.replace('_', ' ')} counter (service/metrics.py)."
    )


class ServerMetrics:
    """One server's metrics, in a registry of its own, and the HTTP endpoint that serves them."""

    def __init__(self, counters: Counters, admission: Admission) -> None:
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        for spec in METRICS:
            if spec.name not in _SCRAPED:
                self._metrics[spec.name] = _build(spec, self.registry)
        # Registered after the declared metrics: a counter whose name clashes fails here, at start-up.
        self.registry.register(_ServerState(counters, admission))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.observer = MetricsObserver(self)
        self._http: Any = None
        self._http_thread: threading.Thread | None = None

    def __getitem__(self, name: str) -> Any:
        return self._metrics[name]

    # -- per call ------------------------------------------------------------------------------

    def call_finished(self, rpc: str, code: str, duration_s: float, refusal: str | None) -> None:
        self._metrics["summarizer_requests_total"].labels(rpc, code).inc()
        self._metrics["summarizer_request_duration_seconds"].labels(rpc).observe(duration_s)
        if refusal is not None:
            self._metrics["summarizer_rejected_total"].labels(refusal).inc()

    def admitted(self, wait_s: float) -> None:
        self._metrics["summarizer_queue_wait_seconds"].observe(wait_s)

    def language(self, language: str, ok: bool, elapsed_s: float, first_streamed: bool) -> None:
        self._metrics["summarizer_languages_total"].labels(language, "summary" if ok else "failure").inc()
        self._metrics["summarizer_time_to_language_seconds"].labels(language).observe(elapsed_s)
        if first_streamed:
            self._metrics["summarizer_time_to_first_language_seconds"].observe(elapsed_s)

    # -- once ----------------------------------------------------------------------------------

    def describe_models(self, profile: str, models: Iterable[ModelDescription], device: str) -> None:
        info = self._metrics["summarizer_model_info"]
        info.clear()
        for model in models:
            # The extractive summarizer runs no model on any device.
            where = device if model.backend != "extractive" else "cpu"
            info.labels(profile, model.name, model.backend, model.runtime, where).set(1)

    # -- the endpoint --------------------------------------------------------------------------

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics over HTTP on host:port, on a daemon thread. Returns the bound port."""
        self._http, self._http_thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_address[1])

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None


class MetricsObserver:
    """The telemetry observer that feeds the stage, cache and batch metrics (service/telemetry.py)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._stages = metrics["summarizer_stage_duration_seconds"]
        self._hits = metrics["summarizer_cache_hits_total"]
        self._misses = metrics["summarizer_cache_misses_total"]
        self._rows = metrics["summarizer_batch_rows"]
        self._input = metrics["summarizer_input_tokens_total"]
        self._generated = metrics["summarizer_generated_tokens_total"]

    @contextmanager
    def stage(self, name: str, **attributes: Attribute) -> Iterator[Stage]:
        started = time.perf_counter()
        try:
            yield NULL_STAGE
        finally:
            self._stages.labels(name).observe(time.perf_counter() - started)

    def languages(self, tags: Sequence[str], **attributes: Attribute) -> AbstractContextManager[Stage]:
        return nullcontext(NULL_STAGE)  # per-language figures come from the call's events

    def batch(self, model: str, rows: int, input_tokens: int, output_tokens: int) -> None:
        self._rows.labels(model).observe(rows)
        self._input.labels(model).inc(input_tokens)
        self._generated.labels(model).inc(output_tokens)

    def tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        pass  # counted once per batch, in `batch`

    def cache(self, kind: str, hit: bool) -> None:
        (self._hits if hit else self._misses).labels(kind).inc()


class _ServerState:
    """Read at scrape time: the admission's gauges and every counter of `Counters`."""

    def __init__(self, counters: Counters, admission: Admission) -> None:
        self._counters = counters
        self._admission = admission
        self._help = {spec.name: spec.help for spec in METRICS}

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "summarizer_requests_running",
            self._help["summarizer_requests_running"],
            value=self._admission.running,
        )
        yield GaugeMetricFamily(
            "summarizer_requests_queued",
            self._help["summarizer_requests_queued"],
            value=self._admission.queued,
        )
        for name, value in sorted(self._counters.snapshot().items()):
            yield CounterMetricFamily(counter_metric_name(name), counter_help(name), value=value)


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Any:
    if spec.kind == "counter":
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind == "histogram":
        return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
    raise ValueError(f"unknown metric kind {spec.kind!r}")
