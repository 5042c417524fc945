"""Decoding and checking OTLP requests: bad bodies and bad ids are refused with a reason."""

from __future__ import annotations

import base64
import json

import pytest
from axonize_backend.errors import BadRequest
from axonize_backend.otlp import (
    check_ids,
    gpu_gauge_points,
    hex_ids_to_base64,
    parse_metrics,
    parse_traces,
    span_count,
)
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

PB, JSON = "application/x-protobuf", "application/json"


def _request(*spans: tuple[bytes, bytes, bytes]) -> ts.ExportTraceServiceRequest:
    req = ts.ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i, (trace, span, parent) in enumerate(spans):
        scope.spans.add(trace_id=trace, span_id=span, parent_span_id=parent, name=f"s{i}")
    return req


def test_protobuf_and_json_bodies_decode_to_the_same_request() -> None:
    req = _request((b"\x01" * 16, b"\x02" * 8, b""))
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "01" * 16, "spanId": "02" * 8, "name": "s0"}]}]}]}
    assert parse_traces(req.SerializeToString(), PB) == req
    assert parse_traces(json.dumps(doc).encode(), JSON) == req
    assert span_count(req) == 1


def test_a_body_that_is_not_the_message_is_refused_with_its_name() -> None:
    with pytest.raises(BadRequest, match="not an ExportTraceServiceRequest"):
        parse_traces(b"\xff\x00garbage", PB)
    with pytest.raises(BadRequest, match="not an ExportMetricsServiceRequest"):
        parse_metrics(b"\xff\x00garbage", PB)
    with pytest.raises(BadRequest, match="invalid OTLP/JSON traces"):
        parse_traces(b"{not json", JSON)
    with pytest.raises(BadRequest, match="invalid OTLP/JSON metrics"):
        parse_metrics(b'{"resourceMetrics": 3}', JSON)


def test_json_ids_are_hex_and_become_base64() -> None:
    doc = {"a": [{"traceId": "0aff", "spanId": "", "name": "0aff", "parentSpanId": "01"}]}
    assert hex_ids_to_base64(doc) == {"a": [{
        "traceId": base64.b64encode(b"\x0a\xff").decode(), "spanId": "", "name": "0aff",
        "parentSpanId": base64.b64encode(b"\x01").decode()}]}
    with pytest.raises(BadRequest, match="traceId 'zz' is not hex"):
        hex_ids_to_base64({"traceId": "zz"})
    with pytest.raises(BadRequest, match="spanId 'abc' is not hex"):
        parse_traces(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abc"}]}]}]}',
                     JSON)


@pytest.mark.parametrize(("ids", "reason"), [
    ((b"\x01" * 15, b"\x02" * 8, b""), "invalid trace or span id"),
    ((b"\x01" * 16, b"\x02" * 7, b""), "invalid trace or span id"),
    ((b"\x01" * 16, b"\x02" * 8, b"\x03" * 4), "invalid parent span id"),
])
def test_a_span_with_ids_of_the_wrong_length_is_named(
        ids: tuple[bytes, bytes, bytes], reason: str) -> None:
    good = (b"\x09" * 16, b"\x09" * 8, b"\x08" * 8)
    with pytest.raises(BadRequest, match=f"span 's1' has an {reason}"):
        check_ids(_request(good, ids))
    check_ids(_request(good, good))  # well-formed ids pass


def test_only_gpu_gauges_naming_a_gpu_become_points() -> None:
    req = ms.ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    util = metrics.add(name="gpu.utilization")
    dp = util.gauge.data_points.add(time_unix_nano=5, as_int=40)
    dp.attributes.add(key="gpu.uuid").value.string_value = "GPU-1"
    dp.attributes.add(key="gpu.node").value.string_value = "n1"
    util.gauge.data_points.add(time_unix_nano=6, as_double=1.0)  # no gpu.uuid: skipped
    other = metrics.add(name="cpu.load")
    other.gauge.data_points.add(as_double=2.0).attributes.add(
        key="gpu.uuid").value.string_value = "GPU-1"
    summed = metrics.add(name="gpu.energy")  # a sum, not a gauge
    summed.sum.data_points.add(as_double=3.0).attributes.add(
        key="gpu.uuid").value.string_value = "GPU-1"
    (point,) = gpu_gauge_points(req)
    assert (point.time_ns, point.gpu_uuid, point.metric, point.value, point.node) == (
        5, "GPU-1", "gpu.utilization", 40.0, "n1")


def test_a_trace_request_is_stored_as_the_parser_read_it() -> None:
    """check_traces re-encodes what it checked: a field with the wrong wire type is dropped,
    a singular field sent twice keeps its last value, a bool is 1, and the days are known."""
    from axonize_backend.otlp import DAY_NS, check_traces, time_window

    now = 1_800_000_000 * 10**9
    span = ts.ExportTraceServiceRequest()
    sp = span.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="s", start_time_unix_nano=now)
    sp.attributes.add(key="flag").value.bool_value = True
    raw = sp.SerializeToString()
    # bool_value as 3 (the last attribute's last byte), trace_id again, a varint trace_id
    raw = raw[:-1] + b"\x03" + b"\x0a\x10" + b"\x09" * 16 + b"\x08\x07"

    def field(number: int, payload: bytes) -> bytes:
        assert len(payload) < 128
        return bytes([number << 3 | 2, len(payload)]) + payload

    body = field(1, field(2, field(2, raw)))
    checked = check_traces(body, PB, time_window(now, 30))
    stored = ts.ExportTraceServiceRequest.FromString(checked.body)
    (got,) = stored.resource_spans[0].scope_spans[0].spans
    assert got.trace_id == b"\x09" * 16 and got.attributes[0].value.bool_value is True
    assert checked.body == stored.SerializeToString()  # canonical: nothing unknown kept
    assert (checked.spans, checked.rejected, checked.days) == (1, 0, (now // DAY_NS,) * 2)


def test_spans_outside_the_window_are_dropped_with_the_reason() -> None:
    from axonize_backend.otlp import DAY_NS, check_traces, time_window

    now = 1_800_000_000 * 10**9
    req = ts.ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for name, start in (("old", now - 31 * DAY_NS), ("ok", now), ("ahead", now + 2 * DAY_NS),
                        ("max", 2**64 - 1)):
        spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name=name,
                  start_time_unix_nano=start)
    checked = check_traces(req.SerializeToString(), PB, time_window(now, 30))
    kept = ts.ExportTraceServiceRequest.FromString(checked.body)
    assert [s.name for s in kept.resource_spans[0].scope_spans[0].spans] == ["ok"]
    assert checked.rejected == 3 and "span 'old'" in checked.reason
