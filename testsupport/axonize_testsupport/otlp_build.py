"""OTLP requests built by hand, for tests that send exactly the bytes they mean."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2


def any_value(v: Any) -> common_pb2.AnyValue:
    """A Python value as an OTLP ``AnyValue``: bool, int, float, bytes, str, list (array),
    dict (key-value list); None is the empty value."""
    av = common_pb2.AnyValue()
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, bytes):
        av.bytes_value = v
    elif isinstance(v, list):
        av.array_value.values.extend(any_value(x) for x in v)
    elif isinstance(v, dict):
        av.kvlist_value.values.extend(
            common_pb2.KeyValue(key=k, value=any_value(x)) for k, x in v.items())
    elif v is not None:
        av.string_value = v
    return av


def one_span_request(name: str, trace: bytes = b"") -> bytes:
    """An encoded trace request of one root span named ``name``, started now (trace id
    ``trace``, or a fixed one that depends on whether the name is ``"good"``)."""
    req = ts.ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = trace or (bytes(range(1, 17)) if name == "good" else bytes(range(2, 18)))
    span.span_id = bytes(range(1, 9))
    span.name = name
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1000
    return req.SerializeToString()
