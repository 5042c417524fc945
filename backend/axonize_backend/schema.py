"""The span store's schema: its tables' columns and OTLP as ClickHouse reads it.

Trace requests are decoded by ClickHouse itself with its Protobuf input format:
:data:`SPAN_SCHEMA` has OTLP's field numbers and :data:`SPAN_STRUCTURE` is the table it fills
(one row per request).  The figures the API filters and aggregates on (model, operation, tokens,
TTFT, tokens/s, GPU utilization, cost) are columns, read under either the Axonize (``ai.*``) or
the standard GenAI (``gen_ai.*``) names (:data:`ATTRIBUTE_COLUMNS`); every other attribute goes
to the ``attributes`` map as text.

Stored text of attribute values: strings as they are, numbers and booleans as ClickHouse prints
them, bytes as hex; arrays and maps as a marker and their protobuf bytes in base64.  Span events
are stored the same way (:data:`EVENTS_MARK` and base64 protobuf).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from axonize_backend.otlp import GaugePoint
from axonize_core import semconv as sc

#: Column order of ``spans`` as the ingest path builds it.
SPAN_COLUMNS = (
    "tenant_id",
    "start_time",
    "duration_ns",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service",
    "status_code",
    "status_message",
    "operation",
    "model",
    "provider",
    "tokens_input",
    "tokens_output",
    "ttft_ms",
    "tokens_per_second",
    "gpu_uuids",
    "gpu_utilization",
    "gpu_seconds",
    "cost_usd",
    "attributes",
    "resource",
    "events",
)
GPU_METRIC_COLUMNS = ("tenant_id", "time", "gpu_uuid", "metric", "value", "node")

#: Span columns read from attributes: column -> the names it is read from, first found first.
#: These attributes are kept as columns, not in the attributes map (the API puts them back).
ATTRIBUTE_COLUMNS: dict[str, tuple[str, ...]] = {
    "operation": (sc.AI_OPERATION_NAME, sc.GEN_AI_OPERATION_NAME),
    "model": (sc.AI_MODEL_NAME, sc.GEN_AI_REQUEST_MODEL),
    "provider": (sc.AI_MODEL_PROVIDER, sc.GEN_AI_PROVIDER_NAME),
    "tokens_input": (sc.AI_LLM_TOKENS_INPUT, sc.GEN_AI_USAGE_INPUT_TOKENS),
    "tokens_output": (sc.AI_LLM_TOKENS_OUTPUT, sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    "ttft_ms": (sc.AI_LLM_TTFT_MS,),
    "tokens_per_second": (sc.AI_LLM_TOKENS_PER_SECOND,),
    "gpu_seconds": (sc.COST_GPU_SECONDS,),
    "cost_usd": (sc.COST_TOTAL_USD,),
}
#: Attribute name -> the column it is kept in.
COLUMN_KEYS = {name: column for column, names in ATTRIBUTE_COLUMNS.items() for name in names}
#: Columns stored as 0 when the span had no such attribute.
ZERO_IS_ABSENT = frozenset(("gpu_seconds", "cost_usd"))

#: OTLP's trace messages as ClickHouse reads them: opentelemetry-proto's field numbers, only the
#: fields stored (ClickHouse skips the others).  Arrays and maps inside ``AnyValue`` and span
#: events are read as their raw bytes (a message and ``bytes`` look the same on the wire).
SPAN_SCHEMA = """syntax = "proto3";
message AnyValue {
  oneof kind {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    bytes array_value = 5; bytes kvlist_value = 6; bytes bytes_value = 7;
  }
}
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; repeated bytes events = 11; Status status = 15;
}
message ScopeSpans { repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
"""
#: The message of :data:`SPAN_SCHEMA` a request is.
SPAN_MESSAGE = "ExportTraceServiceRequest"
# Every AnyValue member is read as Nullable text: ClickHouse prints numbers and booleans itself,
# and NULL says which member of the oneof is absent.
_ATTRS = (
    "Nested(key String, value Tuple(string_value Nullable(String), bool_value Nullable(String), "
    "int_value Nullable(String), double_value Nullable(String), array_value Nullable(String), "
    "kvlist_value Nullable(String), bytes_value Nullable(String)))"
)
#: The columns ClickHouse fills from :data:`SPAN_SCHEMA` (one row per request).
SPAN_STRUCTURE = (
    f"resource_spans Nested(resource Tuple(attributes {_ATTRS}), scope_spans Nested(spans "
    "Nested(trace_id String, span_id String, parent_span_id String, name String, kind Int32, "
    f"start_time_unix_nano UInt64, end_time_unix_nano UInt64, attributes {_ATTRS}, "
    "events Array(String), status Tuple(message String, code Int32))))"
)
#: Markers of values stored as protobuf (base64): an array, a map, a list of span events.
ARRAY_MARK, KVLIST_MARK, EVENTS_MARK = "\x00a:", "\x00k:", "pb:"
#: The error a span insert fails with when a span's ids have the wrong length.
ID_ERROR = "AXONIZE_INVALID_ID"

#: The attributes of one GPU a span names (after ``gpu.N.``), in the order
#: :func:`~axonize_backend.sql.gpu_records_sql` returns them.
GPU_FIELDS = (
    sc.GPU_UUID,
    sc.GPU_COMPUTE_RESOURCE_ID,
    sc.GPU_NAME,
    sc.GPU_VENDOR,
    sc.GPU_MIG_PROFILE,
    sc.GPU_MEMORY_TOTAL_BYTES,
    sc.GPU_RUNTIME_CONTEXT,
    sc.GPU_NODE,
    sc.GPU_POD,
    sc.GPU_NAMESPACE,
    sc.GPU_CONTAINER,
)


def gpu_metrics_table(tenant_id: str, points: Iterable[GaugePoint]) -> pa.Table:
    """Gauge points as rows of ``gpu_metrics`` for one tenant (:data:`GPU_METRIC_COLUMNS`)."""
    cols: dict[str, list[Any]] = {c: [] for c in GPU_METRIC_COLUMNS}
    for p in points:
        cols["tenant_id"].append(tenant_id)
        cols["time"].append(p.time_ns)
        cols["gpu_uuid"].append(p.gpu_uuid)
        cols["metric"].append(p.metric)
        cols["value"].append(p.value)
        cols["node"].append(p.node)
    types = {"time": pa.timestamp("ns", tz="UTC"), "value": pa.float64()}
    return pa.table(
        {c: pa.array(cols[c], type=types.get(c, pa.string())) for c in GPU_METRIC_COLUMNS}
    )
