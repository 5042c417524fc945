"""Governance: owner attributes from the resource, GenOps names or defaults land on every span;
values the span carries (baggage copied by the sender) win."""

from __future__ import annotations

import pytest
from axonize_collector import GovernanceProcessor, Pipeline

import axonize
from axonize_core.otlp_wire import attributes


def test_owner_attributes_are_copied_from_the_resource_and_genops_names(otel_request) -> None:
    req = otel_request(
        [{"name": "a", "attributes": {"gen_ai.request.model": "gpt-4o"}},
         {"name": "b", "attributes": {"owner.team": "ads", "genops.customer_id": "c-9"}}],
        resource={"owner.team": "search", "genops.project": "assist",
                  "service.name": "api"})
    Pipeline([GovernanceProcessor(defaults={"environment": "prod"})]).run(req)
    a, b = (attributes(s.attributes) for s in req.resource_spans[0].scope_spans[0].spans)
    assert {k: v for k, v in a.items() if k.startswith("owner.")} == {
        "owner.team": "search", "owner.project": "assist", "owner.environment": "prod"}
    assert {k: v for k, v in b.items() if k.startswith("owner.")} == {
        "owner.team": "ads", "owner.project": "assist", "owner.customer_id": "c-9",
        "owner.environment": "prod"}


def test_unknown_owner_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown owner fields"):
        GovernanceProcessor(defaults={"squad": "x"})


def test_otel_sdk_spans_made_inside_an_owner_block_carry_the_owner(otel_request) -> None:
    from axonize_collector import GovernanceProcessor, Pipeline
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from axonize_core.otlp_wire import attributes
    from axonize_core.owner import owner_span_processor

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(owner_span_processor())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with axonize.owner(team="search", customer_id="c-42"):
        provider.get_tracer("t").start_span("chat").end()
    provider.get_tracer("t").start_span("outside").end()
    req = encode_spans(memory.get_finished_spans())
    Pipeline([GovernanceProcessor(defaults={"team": "platform"})]).run(req)
    spans = {s.name: attributes(s.attributes)
             for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert spans["chat"] == {"owner.team": "search", "owner.customer_id": "c-42"}
    assert spans["outside"] == {"owner.team": "platform"}
