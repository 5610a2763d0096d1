"""What the tests watch a server through: a /metrics scraper and an OTLP/gRPC trace receiver.

Both are real: /metrics is read over HTTP and parsed with prometheus_client's own parser, and spans
arrive over gRPC at a servicer of the OTLP trace service, as a collector would receive them.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from prometheus_client.parser import text_string_to_metric_families

# A caller's W3C trace context: version, trace id, parent span id, flags (sampled).
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> Samples:
    """Every sample on /metrics, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode("utf-8")
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one series; a series missing from the scrape fails the test.

    A labelled counter has no series until its first increment, so "0" and "absent" differ: an
    assertion on a value must not pass because the series disappeared (renamed, relabelled, or
    never registered). Where absence does mean "not counted yet" (a scrape taken before the calls,
    a condition polled while a call is being recorded), say so with `value_or_zero`.
    """
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        same_name = sorted(str(dict(found)) for found_name, found in samples if found_name == name)
        raise AssertionError(
            f"no series {name}{dict(labels)} on /metrics; "
            + (f"{name} has only {', '.join(same_name)}" if same_name else f"no series is named {name}")
        )
    return samples[key]


def value_or_zero(samples: Samples, name: str, **labels: str) -> float:
    """The value of one series, or 0 when it is absent: only for series not counted yet."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(samples: Samples) -> set[str]:
    """Every label value on /metrics."""
    return {label for _name, labels in samples for _key, label in labels}


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[trace_pb2.Span] = []
        self.resources: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            for resource_spans in request.resource_spans:
                self.resources.append(
                    {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                )
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@contextmanager
def trace_receiver() -> Iterator[tuple[TraceReceiver, int]]:
    """A receiver listening on a free loopback port, and that port."""
    collector = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield collector, port
    finally:
        server.stop(0)


def span_attributes(span: trace_pb2.Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for attribute in span.attributes:
        kind = attribute.value.WhichOneof("value")
        if kind is None:  # an attribute with no value set
            out[attribute.key] = None
        elif kind == "array_value":
            out[attribute.key] = [v.string_value for v in attribute.value.array_value.values]
        else:
            out[attribute.key] = getattr(attribute.value, kind)
    return out
