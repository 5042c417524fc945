"""Axonize and the OpenTelemetry SDK in one process: one trace, both ways, and the drop-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axonize_testsupport.otlp_sink import GrpcSink, attrs, by_name
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import axonize


@pytest.fixture
def otel() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider  # what set_tracer_provider does, but undoable
    yield exporter
    trace._TRACER_PROVIDER = previous
    provider.shutdown()


def test_axonize_span_inside_otel_span_is_its_child(
        traced: GrpcSink, otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("http request") as otel_span, axonize.llm_span(model="m"):
        pass
    axonize.flush(5)
    (ax,) = traced.wait_for_spans(1)
    ctx = otel_span.get_span_context()
    assert int.from_bytes(ax.trace_id, "big") == ctx.trace_id
    assert int.from_bytes(ax.parent_span_id, "big") == ctx.span_id


def test_otel_span_inside_axonize_span_is_its_child(
        traced: GrpcSink, otel: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("db")
    with (axonize.span("pipeline"), tracer.start_as_current_span("vector search"),
          axonize.span("rerank")):
        pass
    axonize.flush(5)
    spans = by_name(traced.wait_for_spans(2))
    (otel_span,) = otel.get_finished_spans()
    pipeline = spans["pipeline"]
    assert otel_span.context.trace_id == int.from_bytes(pipeline.trace_id, "big")
    assert otel_span.parent is not None
    assert otel_span.parent.span_id == int.from_bytes(pipeline.span_id, "big")
    # ... and an Axonize span inside that OTel span hangs under it.
    assert int.from_bytes(spans["rerank"].parent_span_id, "big") == otel_span.context.span_id


def test_axonize_span_processor_is_a_drop_in_for_otel(sink: GrpcSink) -> None:
    from axonize import AxonizeSpanProcessor

    processor = AxonizeSpanProcessor(endpoint=sink.endpoint, flush_interval_ms=50)
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-app"}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("my.lib", "1.2")
    with tracer.start_as_current_span("parent", attributes={"k": "v"}) as parent:
        parent.add_event("cache miss", {"key": "abc"})
        with tracer.start_as_current_span("child", kind=trace.SpanKind.CLIENT) as child:
            child.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
    assert processor.force_flush(5000)
    spans = by_name(sink.wait_for_spans(2))
    (rs,) = sink.resource_spans()
    assert attrs(rs.resource.attributes)["service.name"] == "otel-app"
    scope = rs.scope_spans[0].scope
    assert (scope.name, scope.version) == ("my.lib", "1.2")
    assert attrs(spans["parent"].attributes) == {"k": "v"}
    assert spans["parent"].events[0].name == "cache miss"
    assert spans["child"].kind == 3  # CLIENT
    assert (spans["child"].status.code, spans["child"].status.message) == (2, "boom")
    assert spans["child"].parent_span_id == spans["parent"].span_id
    processor.shutdown()
    assert processor.dropped_spans == 0
