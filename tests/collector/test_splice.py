"""Splicing attributes into the encoded request gives what decoding, adding and encoding gives."""

from __future__ import annotations

from typing import Any

from axonize_collector import MAIN, CostProcessor, Pipeline, RedactionProcessor
from axonize_collector.splice import append_attributes, encode_attribute
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_core.otlp_wire import attributes


def _attrs(req: Any) -> list[dict[str, Any]]:
    return [attributes(s.attributes) for rs in req.resource_spans for ss in rs.scope_spans
            for s in ss.spans]


def test_spliced_attributes_read_back_as_added_ones(otel_request, genai) -> None:
    req = otel_request([{"name": f"s{i}", "attributes": genai} for i in range(3)])
    extra = req.resource_spans.add()  # a second resource with two scopes
    extra.scope_spans.add().spans.add(name="a", trace_id=b"1" * 16, span_id=b"2" * 8)
    extra.scope_spans.add().spans.add(name="b", trace_id=b"1" * 16, span_id=b"3" * 8)
    body = req.SerializeToString()
    long_key = "k" * 200  # lengths over one byte, in the attribute and the span
    added = {1: encode_attribute("cost.total_usd", 0.25) + encode_attribute(long_key, 7),
             4: encode_attribute("flag", True)}
    got = ts.ExportTraceServiceRequest.FromString(append_attributes(body, added))
    want = _attrs(req)
    want[1].update({"cost.total_usd": 0.25, long_key: 7})
    want[4]["flag"] = True
    assert _attrs(got) == want
    assert append_attributes(body, {}) == body


def test_the_relay_fast_path_equals_the_decoded_path(otel_request, genai) -> None:
    specs = [{"name": f"s{i}", "attributes": {**genai, "gen_ai.usage.input_tokens": 10 * i}}
             for i in range(40)] + [{"name": "plain", "attributes": {"http.route": "/"}}]
    req = otel_request(specs)
    body = req.SerializeToString()
    slow = type(req)()
    slow.CopyFrom(req)
    Pipeline([CostProcessor(), RedactionProcessor()]).run(slow)  # decoded, span by span
    fast = Pipeline([CostProcessor(), RedactionProcessor()])
    (data, spans), = fast.run_encoded(req, body).values()
    # Spliced: the added attributes follow the span's other fields, not encoded in field order.
    assert data != slow.SerializeToString() and spans == 41
    assert _attrs(ts.ExportTraceServiceRequest.FromString(data)) == _attrs(slow)
    assert fast.counts.spans_out == 41

    # With a value to mask, that span is visited and replaced; the rest still spliced.
    specs[3]["attributes"]["note"] = "Bearer abcdefgh12345678"
    req = otel_request(specs)
    slow = type(req)()
    slow.CopyFrom(req)
    Pipeline([CostProcessor(), RedactionProcessor()]).run(slow)
    out = Pipeline([CostProcessor(), RedactionProcessor()]).run_encoded(
        req, req.SerializeToString())
    assert _attrs(ts.ExportTraceServiceRequest.FromString(out[MAIN][0])) == _attrs(slow)
    assert out[MAIN][0] != slow.SerializeToString()
    assert _attrs(slow)[3]["note"] == "Bearer [REDACTED:bearer_token]"
