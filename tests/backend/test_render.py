"""Stored rows as the API shows them."""

from __future__ import annotations

import base64
import math

from axonize_backend.render import (
    finite,
    jsonable,
    optional_number,
    percentiles,
    span_attributes,
    stored_events,
    stored_text,
)
from axonize_backend.schema import ARRAY_MARK, EVENTS_MARK, KVLIST_MARK
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


def _b64(message: object) -> str:
    return base64.b64encode(message.SerializeToString()).decode()  # type: ignore[attr-defined]


def test_stored_arrays_and_maps_come_back_as_json() -> None:
    array = common_pb2.ArrayValue(values=[common_pb2.AnyValue(int_value=1),
                                          common_pb2.AnyValue(string_value="a")])
    kvs = common_pb2.KeyValueList(values=[
        common_pb2.KeyValue(key="x", value=common_pb2.AnyValue(bool_value=True))])
    assert stored_text(ARRAY_MARK + _b64(array)) == '[1,"a"]'
    assert stored_text(KVLIST_MARK + _b64(kvs)) == '{"x":true}'
    assert stored_text("plain") == "plain"
    assert stored_text("\x00a:!!not base64") == "\x00a:!!not base64"  # left as it is


def test_stored_events_decode_protobuf_and_older_json() -> None:
    event = trace_pb2.Span.Event(time_unix_nano=7, name="first token", attributes=[
        common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=0))])
    assert stored_events(EVENTS_MARK + _b64(event) + "," + _b64(event)) == [
        {"time_ns": 7, "name": "first token", "attributes": {"i": 0}}] * 2
    assert stored_events("") == []
    assert stored_events('[{"name": "old"}]') == [{"name": "old"}]


def test_span_attributes_put_the_columns_back_under_each_name() -> None:
    row = {"attributes": {"s": "t"}, "model": "m1", "operation": "", "tokens_input": 7,
           "ttft_ms": 12.34567, "gpu_seconds": 0.0, "cost_usd": 0.5, "provider": None}
    attrs = span_attributes(row)
    assert attrs == {"s": "t", "ai.model.name": "m1", "gen_ai.request.model": "m1",
                     "ai.llm.tokens.input": "7", "gen_ai.usage.input_tokens": "7",
                     "ai.llm.ttft_ms": "12.346", "cost.total_usd": "0.5"}


def test_an_attribute_sent_by_name_wins_over_its_column() -> None:
    row = {"attributes": {"ai.model.name": "sent"}, "model": "column"}
    assert span_attributes(row)["ai.model.name"] == "sent"


def test_percentiles_and_numbers_treat_nan_as_absent() -> None:
    nan = math.nan
    assert percentiles([1, 2.5, 3]) == {"p50": 1.0, "p95": 2.5, "p99": 3.0}
    assert percentiles([nan, nan, nan]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    assert percentiles(None) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    assert finite([1, 2.0]) and not finite([1, nan]) and not finite(None)
    assert optional_number(nan) is None and optional_number("1") is None
    assert optional_number(3) == 3.0


def test_jsonable_writes_dates_as_iso_text() -> None:
    from datetime import datetime, timezone

    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert jsonable({"a": [when], "b": 1}) == {"a": ["2026-01-02T00:00:00+00:00"], "b": 1}
