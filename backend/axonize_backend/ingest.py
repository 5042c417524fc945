"""OTLP requests into rows: spans (with their LLM, GPU and cost figures) and GPU gauges.

Each request is parsed once.  The figures the API filters and aggregates on (model, operation,
tokens, TTFT, tokens/s, GPU utilization, cost) become columns, read under either the Axonize
(``ai.*``) or the standard GenAI (``gen_ai.*``) names (:data:`ATTRIBUTE_COLUMNS`); every other
attribute goes to the ``attributes`` map.  ``gpu.N.*`` attributes become
:class:`~axonize_backend.tenants.GpuRecord` entries for the GPU registry.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

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
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def _text(value: Any) -> str:
    """An attribute value as the ``attributes`` map stores it (JSON for arrays and maps)."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


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


def _first(a: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in a:
            return a[n]
    return None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


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
_OPERATION, _MODEL, _PROVIDER, _TOKENS_IN, _TOKENS_OUT = (
    ATTRIBUTE_COLUMNS[c]
    for c in ("operation", "model", "provider", "tokens_input", "tokens_output")
)
_ZERO8 = bytes(8)


def span_rows(
    req: ts.ExportTraceServiceRequest, tenant_id: str
) -> tuple[dict[str, list[Any]], set[GpuRecord]]:
    """Columns for ``spans`` and the GPUs named, from one request."""
    cols: dict[str, list[Any]] = {c: [] for c in SPAN_COLUMNS}
    gpus: set[GpuRecord] = set()
    # The two map columns as flat keys/values with offsets (built into arrays in one go).
    attr_keys: list[str] = []
    attr_values: list[str] = []
    attr_offsets = [0]
    res_keys: list[str] = []
    res_values: list[str] = []
    res_offsets = [0]
    cols["attributes"] = [attr_keys, attr_values, attr_offsets]
    cols["resource"] = [res_keys, res_values, res_offsets]
    # One bound append per column: this loop runs for every span ingested.
    (
        add_tenant,
        add_start,
        add_duration,
        add_trace,
        add_span,
        add_parent,
        add_name,
        add_kind,
        add_service,
        add_status,
        add_status_message,
        add_operation,
        add_model,
        add_provider,
        add_tokens_in,
        add_tokens_out,
        add_ttft,
        add_tps,
        add_gpu_uuids,
        add_gpu_util,
        add_gpu_seconds,
        add_cost,
        _,
        _,
        add_events,
    ) = (cols[c].append for c in SPAN_COLUMNS)
    column_keys = COLUMN_KEYS
    add_attr_key, add_attr_value = attr_keys.append, attr_values.append
    for rs in req.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
        service = str(resource.get("service.name", "unknown_service"))
        resource_keys = list(resource)
        resource_values = [_text(v) for v in resource.values()]
        for ss in rs.scope_spans:
            for sp in ss.spans:
                trace_id, span_id = sp.trace_id, sp.span_id
                if len(trace_id) != 16 or len(span_id) != 8:
                    raise BadRequest(f"span {sp.name!r} has an invalid trace or span id")
                parent = sp.parent_span_id
                if parent and len(parent) != 8:
                    raise BadRequest(f"span {sp.name!r} has an invalid parent span id")
                a = {}
                for kv in sp.attributes:
                    key = kv.key
                    v = kv.value
                    kind = v.WhichOneof("value")
                    if kind == "string_value":  # the common case, inline
                        value = text = v.string_value
                    else:
                        value = any_value(v)
                        text = _text(value)
                    a[key] = value
                    if key not in column_keys:
                        add_attr_key(key)
                        add_attr_value(text)
                attr_offsets.append(len(attr_keys))
                start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
                add_tenant(tenant_id)
                add_start(start)
                add_duration(end - start if end > start else 0)
                add_trace(trace_id)
                add_span(span_id)
                add_parent(parent or _ZERO8)
                add_name(sp.name)
                add_kind(sp.kind)
                add_service(service)
                status = sp.status
                add_status(status.code)
                add_status_message(status.message)
                get = a.get
                add_operation(str(get(_OPERATION[0]) or get(_OPERATION[1]) or ""))
                add_model(str(get(_MODEL[0]) or get(_MODEL[1]) or ""))
                add_provider(str(get(_PROVIDER[0]) or get(_PROVIDER[1]) or ""))
                tin = _num(_first(a, *_TOKENS_IN))
                tout = _num(_first(a, *_TOKENS_OUT))
                add_tokens_in(None if tin is None else int(tin))
                add_tokens_out(None if tout is None else int(tout))
                add_ttft(_num(get(sc.AI_LLM_TTFT_MS)))
                add_tps(_num(get(sc.AI_LLM_TOKENS_PER_SECOND)))
                uuids: list[str] = []
                utils: list[float] = []
                i = 0
                while f"gpu.{i}.{sc.GPU_UUID}" in a or f"gpu.{i}.{sc.GPU_NAME}" in a:
                    p = f"gpu.{i}."
                    uid = str(get(p + sc.GPU_UUID, ""))
                    if uid:
                        uuids.append(uid)
                        gpus.add(_gpu_record(a, p, uid, service))
                    u = _num(get(p + sc.GPU_UTILIZATION_AVG_PCT))
                    if u is not None:
                        utils.append(u)
                    i += 1
                add_gpu_uuids(uuids)
                add_gpu_util(sum(utils) / len(utils) if utils else None)
                add_gpu_seconds(_num(get(sc.COST_GPU_SECONDS)) or 0.0)
                add_cost(_num(get(sc.COST_TOTAL_USD)) or 0.0)
                res_keys.extend(resource_keys)
                res_values.extend(resource_values)
                res_offsets.append(len(res_keys))
                add_events(
                    json.dumps(
                        [
                            {
                                "time_ns": int(e.time_unix_nano),
                                "name": e.name,
                                "attributes": {kv.key: any_value(kv.value) for kv in e.attributes},
                            }
                            for e in sp.events
                        ]
                    )
                    if sp.events
                    else ""
                )
    return cols, gpus


def _gpu_record(a: dict[str, Any], p: str, device_uuid: str, service: str) -> GpuRecord:
    resource_id = str(a.get(p + sc.GPU_COMPUTE_RESOURCE_ID) or device_uuid)
    physical = resource_id.split("/", 1)[0] if "/" in resource_id else device_uuid
    total = _num(a.get(p + sc.GPU_MEMORY_TOTAL_BYTES))
    return GpuRecord(
        gpu_uuid=physical,
        device_uuid=device_uuid,
        compute_resource_id=resource_id,
        model=str(a.get(p + sc.GPU_NAME, "")),
        vendor=str(a.get(p + sc.GPU_VENDOR, "")),
        mig_profile=str(a.get(p + sc.GPU_MIG_PROFILE, "")),
        memory_total_bytes=None if total is None else int(total),
        context=str(a.get(p + sc.GPU_RUNTIME_CONTEXT, "")),
        node=str(a.get(p + sc.GPU_NODE, "")),
        pod=str(a.get(p + sc.GPU_POD, "")),
        namespace=str(a.get(p + sc.GPU_NAMESPACE, "")),
        container=str(a.get(p + sc.GPU_CONTAINER, "")),
        service=service,
    )


def _map_array(flat: list[Any]) -> Any:
    import pyarrow as pa

    keys, values, offsets = flat
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def _map_array(flat: list[Any]) -> Any:
    import pyarrow as pa

    keys, values, offsets = flat
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def spans_table(cols: dict[str, list[Any]]) -> Any:
    import pyarrow as pa

    types = {
        "start_time": pa.timestamp("ns", tz="UTC"),
        "duration_ns": pa.uint64(),
        "trace_id": pa.binary(16),
        "span_id": pa.binary(8),
        "parent_span_id": pa.binary(8),
        "kind": pa.uint8(),
        "status_code": pa.uint8(),
        "tokens_input": pa.uint32(),
        "tokens_output": pa.uint32(),
        "ttft_ms": pa.float32(),
        "tokens_per_second": pa.float32(),
        "gpu_uuids": pa.list_(pa.string()),
        "gpu_utilization": pa.float32(),
        "gpu_seconds": pa.float64(),
        "cost_usd": pa.float64(),
    }
    return pa.table(
        {
            c: _map_array(cols[c])
            if c in ("attributes", "resource")
            else pa.array(cols[c], type=types.get(c, pa.string()))
            for c in SPAN_COLUMNS
        }
    )


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
                    attrs = {kv.key: any_value(kv.value) for kv in dp.attributes}
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
