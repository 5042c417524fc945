"""OTLP requests in: decoding (protobuf or OTLP/JSON) and validation.

Trace requests are checked here and stored as :func:`check_traces` re-encodes them (their
spans are decoded by ClickHouse when loaded, see :mod:`axonize_backend.sql`); the ``gpu.*``
gauges of metrics requests are small and read here (:func:`gpu_gauge_points`).

One rule decides what is accepted: the request as this parser reads it.  The body is parsed by
protobuf, fields it does not know (or that came with the wrong wire type) are dropped, and the
message is serialized again: what the ingest log holds, and ClickHouse decodes, is the canonical
encoding of exactly what was checked (a repeated singular field keeps its last value, a bool is
0 or 1), never the bytes as sent.  Spans that start outside the stored window
(:func:`time_window`) are refused with the reason and counted as rejected (OTLP partial
success), never acknowledged and then lost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_backend.errors import BadRequest

#: The OTLP/JSON fields that hold ids (hex in OTLP/JSON, base64 in protobuf's JSON mapping).
ID_FIELDS = ("traceId", "spanId", "parentSpanId")
TRACE_ID_BYTES, SPAN_ID_BYTES = 16, 8
DAY_NS = 86_400 * 10**9
#: How far past the server's clock a span or point may start: a client's clock may be a little
#: ahead, a day covers a local time sent as UTC.
MAX_FUTURE_NS = DAY_NS


def time_window(now_ns: int, ttl_days: int) -> tuple[int, int]:
    """The start times (unix ns) accepted at ``now_ns``: from the oldest that the store still
    keeps (``ttl_days`` back) to :data:`MAX_FUTURE_NS` ahead."""
    return now_ns - ttl_days * DAY_NS, now_ns + MAX_FUTURE_NS


def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain value (bytes as hex, maps as dicts)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    """OTLP key-values as a dict of plain values."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def _parse(req: Any, body: bytes, content_type: str, what: str) -> Any:
    """Fill ``req`` from OTLP protobuf or OTLP/JSON; a bad body raises :class:`BadRequest`."""
    if content_type.startswith("application/json"):
        try:
            json_format.ParseDict(hex_ids_to_base64(json.loads(body)), req)
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


def parse_traces(body: bytes, content_type: str) -> Any:
    """An ``ExportTraceServiceRequest`` from its protobuf or OTLP/JSON body."""
    return _parse(ts.ExportTraceServiceRequest(), body, content_type, "traces")


def parse_metrics(body: bytes, content_type: str) -> Any:
    """An ``ExportMetricsServiceRequest`` from its protobuf or OTLP/JSON body."""
    return _parse(ms.ExportMetricsServiceRequest(), body, content_type, "metrics")


def hex_ids_to_base64(doc: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in ID_FIELDS and isinstance(v, str) and v:
                try:
                    v = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    raise BadRequest(f"{k} {v!r} is not hex") from None
            out[k] = hex_ids_to_base64(v)
        return out
    if isinstance(doc, list):
        return [hex_ids_to_base64(x) for x in doc]
    return doc


def check_ids(req: Any) -> None:
    """Raise :class:`BadRequest` naming the first span whose ids have the wrong length."""
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                _check_span_ids(sp)


def _check_span_ids(sp: Any) -> None:
    if len(sp.trace_id) != TRACE_ID_BYTES or len(sp.span_id) != SPAN_ID_BYTES:
        raise BadRequest(f"span {_name(sp.name)} has an invalid trace or span id")
    parent = sp.parent_span_id
    if parent and len(parent) != SPAN_ID_BYTES:
        raise BadRequest(f"span {_name(sp.name)} has an invalid parent span id")


def _name(name: str) -> str:
    return repr(name if len(name) <= 80 else name[:80] + "...")


@dataclass(frozen=True)
class CheckedTraces:
    """A trace request as it is stored: :attr:`body` is its canonical protobuf encoding with
    only the accepted spans."""

    body: bytes
    spans: int  # accepted
    rejected: int = 0  # refused for their time (the reason says why)
    reason: str = ""
    days: tuple[int, int] = (0, 0)  # first and last day (since 1970) the accepted spans start on


def check_traces(body: bytes, content_type: str, window: tuple[int, int]) -> CheckedTraces:
    """Parse and check a trace request (:class:`BadRequest` if malformed or a span id has the
    wrong length) and re-encode it canonically, without the spans that start outside
    ``window`` (:func:`time_window`)."""
    req = parse_traces(body, content_type)
    if not content_type.startswith("application/json"):  # JSON has no unknown fields here
        req.DiscardUnknownFields()  # unknown fields, and known ones with the wrong wire type
    lo, hi = window
    kept = rejected = 0
    reason = ""
    first_day, last_day = 1 << 62, -1
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            refused = []
            for i, sp in enumerate(ss.spans):
                _check_span_ids(sp)
                start = sp.start_time_unix_nano
                if lo <= start <= hi:
                    kept += 1
                    day = start // DAY_NS
                    first_day, last_day = min(first_day, day), max(last_day, day)
                    continue
                refused.append(i)
                if not reason:
                    reason = (
                        f"span {_name(sp.name)} starts at {start} ns since 1970, outside the "
                        f"accepted window [{lo}, {hi}] (the retention period back, one day "
                        "ahead of the server's clock)"
                    )
            for i in reversed(refused):
                del ss.spans[i]
            rejected += len(refused)
    if not kept:
        return CheckedTraces(b"", 0, rejected, reason)
    return CheckedTraces(req.SerializeToString(), kept, rejected, reason, (first_day, last_day))


def span_count(req: Any) -> int:
    """How many spans a trace request holds."""
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


@dataclass(frozen=True)
class GaugePoint:
    """One data point of a ``gpu.*`` gauge."""

    time_ns: int
    gpu_uuid: str
    metric: str
    value: float
    node: str


def gpu_gauge_points(req: Any) -> list[GaugePoint]:
    """The points of the ``gpu.*`` gauges of a metrics request that name a ``gpu.uuid``."""
    points = []
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if not metric.name.startswith("gpu.") or not metric.HasField("gauge"):
                    continue
                for dp in metric.gauge.data_points:
                    attrs = attributes(dp.attributes)
                    uid = str(attrs.get("gpu.uuid", ""))
                    if not uid:
                        continue
                    value = dp.as_double if dp.HasField("as_double") else float(dp.as_int)
                    points.append(
                        GaugePoint(
                            int(dp.time_unix_nano),
                            uid,
                            metric.name,
                            float(value),
                            str(attrs.get("gpu.node", "")),
                        )
                    )
    return points
