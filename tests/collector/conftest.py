"""Real OTLP payloads for the collector tests: spans made with the plain OpenTelemetry SDK and
encoded by its own OTLP encoder (the bytes any OTel exporter sends)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

SpanSpec = Mapping[str, Any]  # name, attributes, error (bool), duration_ms, events


def make_request(specs: Sequence[SpanSpec], resource: Mapping[str, Any] | None = None) -> Any:
    """An ``ExportTraceServiceRequest`` of one root span per spec, made by the OTel SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(dict(resource or {})))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test-app")
    for spec in specs:
        start = 1_700_000_000_000_000_000
        span = tracer.start_span(spec.get("name", "chat"), start_time=start,
                                 attributes=dict(spec.get("attributes", {})))
        for name, attrs in spec.get("events", ()):
            span.add_event(name, attrs, timestamp=start + 1)
        if spec.get("error"):
            span.set_status(Status(StatusCode.ERROR, spec.get("message", "boom")))
        span.end(end_time=start + int(spec.get("duration_ms", 100) * 1e6))
    provider.shutdown()
    return encode_spans(memory.get_finished_spans())


def trace_request(spans: list[tuple[int, str, bool]], service: str = "chat-api") -> Any:
    """An ``ExportTraceServiceRequest`` of one scope of spans, each given as (trace number,
    name, failed)."""
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = service
    ss = rs.scope_spans.add()
    ss.scope.name = "test-app"
    for k, (trace, name, failed) in enumerate(spans):
        sp = ss.spans.add(trace_id=(trace + 1).to_bytes(16, "big"),
                          span_id=(trace * 100 + k + 1).to_bytes(8, "big"), name=name,
                          start_time_unix_nano=1_700_000_000 * 10**9,
                          end_time_unix_nano=1_700_000_000 * 10**9 + 10**6)
        if failed:
            sp.status.code = 2  # ERROR
    return req


GENAI = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
         "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
         "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}


@pytest.fixture
def otel_request() -> Callable[..., Any]:
    return make_request


@pytest.fixture(name="trace_request")
def _trace_request_fixture() -> Callable[..., Any]:
    return trace_request


@pytest.fixture
def genai() -> dict[str, Any]:
    """The attributes a plain OTel GenAI instrumentation (an OpenAI client) puts on a span."""
    return dict(GENAI)


@pytest.fixture
def free_port_factory() -> Callable[[], int]:
    from axonize_testsupport.ports import free_port

    return free_port
