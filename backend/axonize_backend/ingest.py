"""OTLP requests into rows: spans (with their LLM, GPU and cost figures) and GPU gauges.

Trace requests are decoded by ClickHouse itself: the request bytes go to the store unchanged and
one ``INSERT ... SELECT`` (:func:`span_insert_sql`) reads them with ClickHouse's Protobuf input
format (:data:`SPAN_SCHEMA` has OTLP's field numbers) and turns them into ``spans`` rows.  No
span is walked in Python, which is what made ingest slow.  The figures the API filters and
aggregates on (model, operation, tokens, TTFT, tokens/s, GPU utilization, cost) become columns,
read under either the Axonize (``ai.*``) or the standard GenAI (``gen_ai.*``) names
(:data:`ATTRIBUTE_COLUMNS`); every other attribute goes to the ``attributes`` map as text.
``gpu.N.*`` attributes are read back by :func:`gpu_records_sql` for the GPU registry.

Stored text of attribute values: strings as they are, numbers and booleans as ClickHouse prints
them, bytes as hex; arrays and maps as a marker and their protobuf bytes in base64
(:func:`stored_text` turns them into JSON on the way out).  Span events are stored the same way
(``pb:`` and base64 protobuf, :func:`stored_events`).  Metrics requests are small and parsed in
Python (:func:`gpu_metric_rows`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from axonize_backend.spans import GPU_METRIC_COLUMNS, SPAN_COLUMNS
from axonize_backend.tenants import GpuRecord
from axonize_core import semconv as sc


class BadRequest(ValueError):
    """A request that cannot be ingested; the message says why."""


def any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    """OTLP key-values as a dict of plain values."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def _parse(req: Any, body: bytes, content_type: str, what: str) -> Any:
    """Fill ``req`` from OTLP protobuf or OTLP/JSON; a bad body raises :class:`BadRequest`."""
    if content_type.startswith("application/json"):
        try:
            from google.protobuf import json_format

            json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), req)
        except Exception as exc:
            raise BadRequest(f"invalid OTLP/JSON {what}: {exc}") from None
        return req
    try:
        req.ParseFromString(body)
    except Exception:
        raise BadRequest(
            f"invalid OTLP protobuf: the body is not an {type(req).__name__}"
        ) from None
    return req


def parse_traces(body: bytes, content_type: str) -> ts.ExportTraceServiceRequest:
    return _parse(ts.ExportTraceServiceRequest(), body, content_type, "traces")  # type: ignore[no-any-return]


def parse_metrics(body: bytes, content_type: str) -> ms.ExportMetricsServiceRequest:
    return _parse(ms.ExportMetricsServiceRequest(), body, content_type, "metrics")  # type: ignore[no-any-return]


def _hex_ids_to_base64(doc: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str) and v:
                try:
                    v = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    raise BadRequest(f"{k} {v!r} is not hex") from None
            out[k] = _hex_ids_to_base64(v)
        return out
    if isinstance(doc, list):
        return [_hex_ids_to_base64(x) for x in doc]
    return doc


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
COLUMN_KEYS = {name: column for column, names in ATTRIBUTE_COLUMNS.items() for name in names}

# --------------------------------------------------------------------------- spans, in ClickHouse
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
_ID_ERROR = "AXONIZE_INVALID_ID"


def sql_string(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: The settings that make ClickHouse read request bytes with :data:`SPAN_SCHEMA`.
FORMAT_SETTINGS = {
    "format_schema": SPAN_SCHEMA,
    "format_schema_source": "string",
    "format_schema_message_name": "ExportTraceServiceRequest",
}


def dedup_settings(token: str) -> dict[str, Any]:
    """Settings that make a repeated insert with the same ``token`` store nothing again (the
    tables keep a deduplication window, see migration 0004)."""
    if not token:
        return {}
    return {
        "insert_deduplication_token": token,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
    }


def settings_clause(settings: dict[str, Any]) -> str:
    """`` SETTINGS a = 'x', b = 1`` for a query's text."""
    return " SETTINGS " + ", ".join(
        f"{k} = {v if isinstance(v, int) else sql_string(str(v))}" for k, v in settings.items()
    )


def frame(bodies: Iterable[bytes]) -> bytes:
    """Requests as ClickHouse's Protobuf format reads them: each after its varint length."""
    out = bytearray()
    for body in bodies:
        n = len(body)
        while n > 0x7F:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        out += body
    return bytes(out)


def _text_sql(v: str) -> str:
    """SQL: the stored text of the AnyValue tuple ``v`` (only its present member is not NULL)."""
    return (
        f"coalesce({v}.string_value, {v}.int_value, {v}.double_value, {v}.bool_value, "
        f"lower(hex({v}.bytes_value)), "
        f"concat({sql_string(ARRAY_MARK)}, base64Encode({v}.array_value)), "
        f"concat({sql_string(KVLIST_MARK)}, base64Encode({v}.kvlist_value)), '')"
    )


def _number_sql(v: str) -> str:
    """SQL: the AnyValue tuple ``v`` as a Float64 if it is a number, else NULL."""
    return f"toFloat64(coalesce({v}.int_value, {v}.double_value))"


#: Per span: its attribute keys, their stored texts and their numbers.
_SPAN_VALUES = (
    "sp.attributes.key AS keys",
    f"arrayMap(v -> {_text_sql('v')}, sp.attributes.value) AS texts",
    f"arrayMap(v -> {_number_sql('v')}, sp.attributes.value) AS nums",
)


def _each_span(source: str) -> str:
    """A subquery of one row per span (``sp``) with its resource's keys and texts and its
    service; what belongs to a resource is worked out once per resource, not per span."""
    return (
        "(SELECT res_keys, res_texts, service, sp FROM (\n"
        "    SELECT rs.resource.attributes.key AS res_keys,\n"
        f"      arrayMap(v -> {_text_sql('v')}, rs.resource.attributes.value) AS res_texts,\n"
        "      if(has(res_keys, 'service.name'), res_texts[indexOf(res_keys, 'service.name')],"
        " 'unknown_service') AS service,\n"
        "      rs.scope_spans AS scope_spans\n"
        f"    FROM {source} ARRAY JOIN resource_spans AS rs)\n"
        "  ARRAY JOIN scope_spans AS ss ARRAY JOIN ss.spans AS sp)"
    )


def _gpu_key(attribute: str) -> str:
    return sql_string("^gpu\\.[0-9]+\\." + attribute.replace(".", "\\.") + "$")


def span_insert_sql(db: str, source: str) -> str:
    """``INSERT`` of the spans of the requests in ``source`` (rows of :data:`SPAN_STRUCTURE`)
    into ``{db}.spans`` for the tenant given as the ``tenant`` parameter.  A span whose ids have
    the wrong length fails the whole insert (:func:`check_ids` keeps them out before that)."""

    def text(key: str) -> str:
        return f"texts[indexOf(keys, {sql_string(key)})]"

    def first_text(column: str) -> str:
        a, b = ATTRIBUTE_COLUMNS[column]
        return f"if({text(a)} != '', {text(a)}, {text(b)})"

    def first_number(column: str) -> str:
        names = ATTRIBUTE_COLUMNS[column]
        return "coalesce(" + ", ".join(f"nums[indexOf(keys, {sql_string(n)})]" for n in names) + ")"

    def count(column: str) -> str:  # NULL when absent, negatives as 0
        n = first_number(column)
        return f"toUInt32(if({n} < 0, 0, {n}))"

    column_keys = "[" + ", ".join(sql_string(k) for k in COLUMN_KEYS) + "]"
    invalid = (
        "length(sp.trace_id) != 16 OR length(sp.span_id) != 8 "
        "OR length(sp.parent_span_id) NOT IN (0, 8)"
    )
    gpu_index = "toUInt32(extract(kt.1, '^gpu\\\\.([0-9]+)\\\\.'))"
    columns = {
        "tenant_id": "{tenant:String}",
        "start_time": "fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano), 'UTC')",
        "duration_ns": "if(sp.end_time_unix_nano > sp.start_time_unix_nano, "
        "sp.end_time_unix_nano - sp.start_time_unix_nano, 0)",
        "trace_id": "toFixedString(sp.trace_id, 16)",
        "span_id": "toFixedString(sp.span_id, 8)",
        "parent_span_id": "toFixedString(sp.parent_span_id, 8)",
        "name": "sp.name",
        "kind": f"toUInt8(sp.kind) + throwIf({invalid}, '{_ID_ERROR}')",
        "service": "service",
        "status_code": "toUInt8(sp.status.code)",
        "status_message": "sp.status.message",
        "operation": first_text("operation"),
        "model": first_text("model"),
        "provider": first_text("provider"),
        "tokens_input": count("tokens_input"),
        "tokens_output": count("tokens_output"),
        "ttft_ms": f"toFloat32({first_number('ttft_ms')})",
        "tokens_per_second": f"toFloat32({first_number('tokens_per_second')})",
        "gpu_uuids": "arrayFilter(x -> x != '', arrayMap(kt -> kt.2, arraySort("
        f"kt -> {gpu_index}, arrayFilter((kt) -> match(kt.1, "
        f"{_gpu_key(sc.GPU_UUID)}), arrayZip(keys, texts)))))",
        "gpu_utilization": "toFloat32(if(empty(gpu_utils), NULL, arrayAvg(gpu_utils)))",
        "gpu_seconds": f"ifNull({first_number('gpu_seconds')}, 0)",
        "cost_usd": f"ifNull({first_number('cost_usd')}, 0)",
        "attributes": f"mapFromArrays(arrayFilter(k -> NOT has({column_keys}, k), keys), "
        f"arrayFilter((t, k) -> NOT has({column_keys}, k), texts, keys))",
        "resource": "mapFromArrays(res_keys, res_texts)",
        "events": f"if(empty(sp.events), '', concat({sql_string(EVENTS_MARK)}, "
        "arrayStringConcat(arrayMap(e -> base64Encode(e), sp.events), ',')))",
    }
    gpu_utils = (
        "arrayMap(n -> assumeNotNull(n), arrayFilter((n, k) -> n IS NOT NULL AND "
        f"match(k, {_gpu_key(sc.GPU_UTILIZATION_AVG_PCT)}), nums, keys)) AS gpu_utils"
    )
    select = ",\n    ".join(
        [*_SPAN_VALUES, gpu_utils, *(f"{columns[c]} AS x_{c}" for c in SPAN_COLUMNS)]
    )
    return (
        f"INSERT INTO {db}.spans ({', '.join(SPAN_COLUMNS)})\n"
        f"SELECT {', '.join('x_' + c for c in SPAN_COLUMNS)} FROM (\n"
        f"  SELECT\n    {select}\n  FROM {_each_span(source)})"
    )


#: The attributes of one GPU a span names (after ``gpu.N.``), in :func:`gpu_records_sql`'s order.
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


def gpu_records_sql(source: str) -> str:
    """``SELECT`` of every distinct GPU (``gpu.N.*`` with a uuid) the spans in ``source`` name,
    with the service naming it: rows of ``service`` and ``fields`` (:data:`GPU_FIELDS`)."""
    fields = "[" + ", ".join(sql_string(f) for f in GPU_FIELDS) + "]"
    return (
        "SELECT DISTINCT service, arrayMap(f -> attrs[concat(prefix, f)], "
        f"{fields}) AS fields FROM (\n"
        f"  SELECT service, {', '.join(_SPAN_VALUES)}, mapFromArrays(keys, texts) AS attrs,\n"
        f"    arrayFilter(k -> match(k, {_gpu_key(sc.GPU_UUID)}), keys) AS uuid_keys\n"
        f"  FROM {_each_span(source)}\n  WHERE notEmpty(uuid_keys))\n"
        f"ARRAY JOIN arrayMap(k -> substring(k, 1, length(k) - {len(sc.GPU_UUID)}), uuid_keys)"
        " AS prefix"
    )


def gpu_record(service: str, fields: list[str]) -> GpuRecord | None:
    """A registry record from one row of :func:`gpu_records_sql` (None without a uuid)."""
    f = dict(zip(GPU_FIELDS, fields, strict=False))
    device_uuid = f.get(sc.GPU_UUID, "")
    if not device_uuid:
        return None
    resource_id = f.get(sc.GPU_COMPUTE_RESOURCE_ID) or device_uuid
    total = _num_text(f.get(sc.GPU_MEMORY_TOTAL_BYTES, ""))
    return GpuRecord(
        gpu_uuid=resource_id.split("/", 1)[0] if "/" in resource_id else device_uuid,
        device_uuid=device_uuid,
        compute_resource_id=resource_id,
        model=f.get(sc.GPU_NAME, ""),
        vendor=f.get(sc.GPU_VENDOR, ""),
        mig_profile=f.get(sc.GPU_MIG_PROFILE, ""),
        memory_total_bytes=None if total is None else int(total),
        context=f.get(sc.GPU_RUNTIME_CONTEXT, ""),
        node=f.get(sc.GPU_NODE, ""),
        pod=f.get(sc.GPU_POD, ""),
        namespace=f.get(sc.GPU_NAMESPACE, ""),
        container=f.get(sc.GPU_CONTAINER, ""),
        service=service,
    )


def _num_text(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def check_ids(req: ts.ExportTraceServiceRequest) -> None:
    """Raise :class:`BadRequest` naming the first span whose ids have the wrong length."""
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                    raise BadRequest(f"span {sp.name!r} has an invalid trace or span id")
                parent = sp.parent_span_id
                if parent and len(parent) != 8:
                    raise BadRequest(f"span {sp.name!r} has an invalid parent span id")


def span_count(req: ts.ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


# --------------------------------------------------------------------------- stored values, out
def _value_text(value: Any) -> str:
    """A decoded attribute value as the ``attributes`` map stores it (JSON for arrays, maps)."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def stored_text(text: str) -> str:
    """A stored attribute text as the API shows it: arrays and maps become JSON."""
    if not text.startswith("\x00"):
        return text
    try:
        if text.startswith(ARRAY_MARK):
            values = common_pb2.ArrayValue.FromString(base64.b64decode(text[len(ARRAY_MARK) :]))
            return _value_text([any_value(x) for x in values.values])
        if text.startswith(KVLIST_MARK):
            kvs = common_pb2.KeyValueList.FromString(base64.b64decode(text[len(KVLIST_MARK) :]))
            return _value_text(_attributes(kvs.values))
    except Exception:
        pass
    return text


def stored_events(text: str) -> list[dict[str, Any]]:
    """A span's stored events as the API shows them."""
    if not text:
        return []
    if not text.startswith(EVENTS_MARK):
        return json.loads(text)  # type: ignore[no-any-return]
    out = []
    for item in text[len(EVENTS_MARK) :].split(","):
        event = trace_pb2.Span.Event.FromString(base64.b64decode(item))
        out.append(
            {
                "time_ns": int(event.time_unix_nano),
                "name": event.name,
                "attributes": _attributes(event.attributes),
            }
        )
    return out


# --------------------------------------------------------------------------- metrics, in Python
def gpu_metric_rows(req: ms.ExportMetricsServiceRequest, tenant_id: str) -> Any:
    """The ``gpu.*`` gauges of a metrics request as a ``gpu_metrics`` table (None if none)."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {c: [] for c in GPU_METRIC_COLUMNS}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith("gpu.") or not metric.HasField("gauge"):
                    continue
                for dp in metric.gauge.data_points:
                    attrs = _attributes(dp.attributes)
                    uid = str(attrs.get("gpu.uuid", ""))
                    if not uid:
                        continue
                    value = dp.as_double if dp.HasField("as_double") else float(dp.as_int)
                    cols["tenant_id"].append(tenant_id)
                    cols["time"].append(int(dp.time_unix_nano))
                    cols["gpu_uuid"].append(uid)
                    cols["metric"].append(metric.name)
                    cols["value"].append(value)
                    cols["node"].append(str(attrs.get("gpu.node", "")))
    if not cols["tenant_id"]:
        return None
    types = {"time": pa.timestamp("ns", tz="UTC"), "value": pa.float64()}
    return pa.table(
        {c: pa.array(cols[c], type=types.get(c, pa.string())) for c in GPU_METRIC_COLUMNS}
    )
