"""OTLP requests into rows: spans (with their LLM, GPU and cost figures) and GPU gauges.

Each request is parsed once.  The figures the API filters and aggregates on (model, operation,
tokens, TTFT, tokens/s, GPU utilization, cost) become columns, read under either the Axonize
(``ai.*``) or the standard GenAI (``gen_ai.*``) names; every attribute also stays in the
``attributes`` map.  ``gpu.N.*`` attributes become :class:`~axonize_backend.tenants.GpuRecord`
entries for the GPU registry.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_backend.spans import GPU_METRIC_COLUMNS, SPAN_COLUMNS
from axonize_backend.tenants import GpuRecord


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
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def parse_traces(body: bytes, content_type: str) -> ts.ExportTraceServiceRequest:
    req = ts.ExportTraceServiceRequest()
    if content_type.startswith("application/json"):
        try:
            from google.protobuf import json_format

            json_format.ParseDict(_hex_ids_to_base64(json.loads(body)), req)
        except Exception as exc:
            raise BadRequest(f"invalid OTLP/JSON traces: {exc}") from None
        return req
    try:
        req.ParseFromString(body)
    except Exception:
        raise BadRequest(
            "invalid OTLP protobuf: the body is not an ExportTraceServiceRequest"
        ) from None
    return req


def parse_metrics(body: bytes, content_type: str) -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    if content_type.startswith("application/json"):
        try:
            from google.protobuf import json_format

            json_format.ParseDict(json.loads(body), req)
        except Exception as exc:
            raise BadRequest(f"invalid OTLP/JSON metrics: {exc}") from None
        return req
    try:
        req.ParseFromString(body)
    except Exception:
        raise BadRequest(
            "invalid OTLP protobuf: the body is not an ExportMetricsServiceRequest"
        ) from None
    return req


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


def span_rows(
    req: ts.ExportTraceServiceRequest, tenant_id: str
) -> tuple[dict[str, list[Any]], set[GpuRecord]]:
    """Columns for ``spans`` and the GPUs named, from one request."""
    cols: dict[str, list[Any]] = {c: [] for c in SPAN_COLUMNS}
    gpus: set[GpuRecord] = set()
    for rs in req.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
        service = str(resource.get("service.name", "unknown_service"))
        resource_map = {k: _text(v) for k, v in resource.items()}
        for ss in rs.scope_spans:
            for sp in ss.spans:
                if len(sp.trace_id) != 16 or len(sp.span_id) != 8:
                    raise BadRequest(f"span {sp.name!r} has an invalid trace or span id")
                a = {kv.key: any_value(kv.value) for kv in sp.attributes}
                start, end = int(sp.start_time_unix_nano), int(sp.end_time_unix_nano)
                cols["tenant_id"].append(tenant_id)
                cols["start_time"].append(start)
                cols["end_time"].append(max(end, start))
                cols["duration_ns"].append(max(0, end - start))
                cols["trace_id"].append(sp.trace_id.hex())
                cols["span_id"].append(sp.span_id.hex())
                cols["parent_span_id"].append(sp.parent_span_id.hex())
                cols["name"].append(sp.name)
                cols["kind"].append(int(sp.kind))
                cols["service"].append(service)
                cols["status_code"].append(int(sp.status.code))
                cols["status_message"].append(sp.status.message)
                cols["operation"].append(
                    str(_first(a, "ai.operation.name", "gen_ai.operation.name") or "")
                )
                cols["model"].append(str(_first(a, "ai.model.name", "gen_ai.request.model") or ""))
                cols["provider"].append(
                    str(_first(a, "ai.model.provider", "gen_ai.provider.name") or "")
                )
                tin = _num(_first(a, "ai.llm.tokens.input", "gen_ai.usage.input_tokens"))
                tout = _num(_first(a, "ai.llm.tokens.output", "gen_ai.usage.output_tokens"))
                cols["tokens_input"].append(None if tin is None else int(tin))
                cols["tokens_output"].append(None if tout is None else int(tout))
                cols["ttft_ms"].append(_num(a.get("ai.llm.ttft_ms")))
                cols["tokens_per_second"].append(_num(a.get("ai.llm.tokens_per_second")))
                uuids, utils = [], []
                i = 0
                while f"gpu.{i}.uuid" in a or f"gpu.{i}.name" in a:
                    p = f"gpu.{i}."
                    uid = str(a.get(p + "uuid", ""))
                    if uid:
                        uuids.append(uid)
                        gpus.add(_gpu_record(a, p, uid, service))
                    u = _num(a.get(p + "utilization.avg_pct"))
                    if u is not None:
                        utils.append(u)
                    i += 1
                cols["gpu_uuids"].append(uuids)
                cols["gpu_utilization"].append(sum(utils) / len(utils) if utils else None)
                cols["gpu_seconds"].append(_num(a.get("cost.gpu_seconds")) or 0.0)
                cols["cost_usd"].append(_num(a.get("cost.total_usd")) or 0.0)
                cols["attributes"].append([(k, _text(v)) for k, v in a.items()])
                cols["resource"].append(list(resource_map.items()))
                cols["events"].append(
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
    resource_id = str(a.get(p + "compute_resource.id") or device_uuid)
    physical = resource_id.split("/", 1)[0] if "/" in resource_id else device_uuid
    total = _num(a.get(p + "memory.total_bytes"))
    return GpuRecord(
        gpu_uuid=physical,
        device_uuid=device_uuid,
        compute_resource_id=resource_id,
        model=str(a.get(p + "name", "")),
        vendor=str(a.get(p + "vendor", "")),
        mig_profile=str(a.get(p + "mig.profile", "")),
        memory_total_bytes=None if total is None else int(total),
        context=str(a.get(p + "runtime.context", "")),
        node=str(a.get(p + "node", "")),
        pod=str(a.get(p + "k8s.pod", "")),
        namespace=str(a.get(p + "k8s.namespace", "")),
        container=str(a.get(p + "k8s.container", "")),
        service=service,
    )


def spans_table(cols: dict[str, list[Any]]) -> Any:
    import pyarrow as pa

    m = pa.map_(pa.string(), pa.string())
    types = {
        "start_time": pa.timestamp("ns", tz="UTC"),
        "end_time": pa.timestamp("ns", tz="UTC"),
        "duration_ns": pa.uint64(),
        "kind": pa.uint8(),
        "status_code": pa.uint8(),
        "tokens_input": pa.uint32(),
        "tokens_output": pa.uint32(),
        "ttft_ms": pa.float64(),
        "tokens_per_second": pa.float64(),
        "gpu_uuids": pa.list_(pa.string()),
        "gpu_utilization": pa.float64(),
        "gpu_seconds": pa.float64(),
        "cost_usd": pa.float64(),
        "attributes": m,
        "resource": m,
    }
    return pa.table({c: pa.array(cols[c], type=types.get(c, pa.string())) for c in SPAN_COLUMNS})


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
