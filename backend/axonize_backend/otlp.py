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

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

from axonize_backend.errors import BadRequest
from axonize_core import otlp_wire
from axonize_core.otlp_wire import (  # re-exported: the decoding is shared with the collector
    ID_FIELDS,
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    any_value,
    attributes,
    span_count,
)

__all__ = ["ID_FIELDS", "SPAN_ID_BYTES", "TRACE_ID_BYTES", "any_value", "attributes",
           "span_count"]

DAY_NS = 86_400 * 10**9
#: How far past the server's clock a span or point may start: a client's clock may be a little
#: ahead, a day covers a local time sent as UTC.
MAX_FUTURE_NS = DAY_NS


def time_window(now_ns: int, ttl_days: int) -> tuple[int, int]:
    """The start times (unix ns) accepted at ``now_ns``: from the oldest that the store still
    keeps (``ttl_days`` back) to :data:`MAX_FUTURE_NS` ahead."""
    return now_ns - ttl_days * DAY_NS, now_ns + MAX_FUTURE_NS


@contextmanager
def _bad_request() -> Iterator[None]:
    """The shared decoder's :class:`~axonize_core.otlp_wire.MalformedOtlp` as a
    :class:`BadRequest`."""
    try:
        yield
    except otlp_wire.MalformedOtlp as exc:
        raise BadRequest(str(exc)) from None


def parse_traces(body: bytes, content_type: str) -> Any:
    """An ``ExportTraceServiceRequest`` from its protobuf or OTLP/JSON body."""
    with _bad_request():
        return otlp_wire.parse_traces(body, content_type)


def parse_metrics(body: bytes, content_type: str) -> Any:
    """An ``ExportMetricsServiceRequest`` from its protobuf or OTLP/JSON body."""
    with _bad_request():
        return otlp_wire.parse_into(ms.ExportMetricsServiceRequest(), body, content_type,
                                    "metrics")


def hex_ids_to_base64(doc: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    with _bad_request():
        return otlp_wire.hex_ids_to_base64(doc)


def check_ids(req: Any) -> None:
    """Raise :class:`BadRequest` naming the first span whose ids have the wrong length."""
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                _check_span_ids(sp)


def _check_span_ids(sp: Any) -> None:
    with _bad_request():
        otlp_wire.check_span_ids(sp)


_name = otlp_wire.short_name


@dataclass(frozen=True)
class CheckedTraces:
    """A trace request as it is stored: :attr:`body` is its canonical protobuf encoding with
    only the accepted spans."""

    body: bytes
    spans: int  # accepted
    rejected: int = 0  # refused for their time (the reason says why)
    reason: str = ""
    days: tuple[int, int] = (0, 0)  # first and last day (since 1970) the accepted spans start on


def check_traces(body: bytes, content_type: str, window: tuple[int, int],
                 process: Any = None) -> CheckedTraces:
    """Parse and check a trace request (:class:`BadRequest` if malformed or a span id has the
    wrong length) and re-encode it canonically, without the spans that start outside
    ``window`` (:func:`time_window`).  ``process``, if given, is a collector pipeline
    (:class:`axonize_collector.Pipeline`) run on the accepted spans before they are encoded:
    what it drops is not stored, what it routes elsewhere is stored with the rest."""
    req = parse_traces(body, content_type)
    if not content_type.startswith("application/json"):  # JSON has no unknown fields here
        req.DiscardUnknownFields()  # unknown fields, and known ones with the wrong wire type
    lo, hi = window
    kept = rejected = 0
    reason = ""
    earliest, latest = hi + 1, lo - 1
    # One pass per span, written out: this loop is most of the server's CPU per span.
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            refused: list[int] = []
            i = -1
            for sp in ss.spans:
                i += 1
                if len(sp.trace_id) != TRACE_ID_BYTES or len(sp.span_id) != SPAN_ID_BYTES:
                    _check_span_ids(sp)  # raises, naming the span
                parent = sp.parent_span_id
                if parent and len(parent) != SPAN_ID_BYTES:
                    _check_span_ids(sp)
                start = sp.start_time_unix_nano
                if lo <= start <= hi:
                    if start < earliest:
                        earliest = start
                    if start > latest:
                        latest = start
                    continue
                refused.append(i)
                if not reason:
                    reason = (
                        f"span {_name(sp.name)} starts at {start} ns since 1970, outside the "
                        f"accepted window [{lo}, {hi}] (the retention period back, one day "
                        "ahead of the server's clock)"
                    )
            if refused:
                for i in reversed(refused):
                    del ss.spans[i]
                rejected += len(refused)
            kept += len(ss.spans)
    if not kept:
        return CheckedTraces(b"", 0, rejected, reason)
    days = (earliest // DAY_NS, latest // DAY_NS)
    if process is not None:
        pb = not content_type.startswith("application/json") and not rejected
        routes = process.run(req, body if pb else None)
        # Concatenated encodings are one message holding the spans of both.
        encoded = b"".join(r.SerializeToString() for r in routes.values())
        kept = sum(span_count(r) for r in routes.values())
        if not kept:
            return CheckedTraces(b"", 0, rejected, reason)
        return CheckedTraces(encoded, kept, rejected, reason, days)
    return CheckedTraces(req.SerializeToString(), kept, rejected, reason, days)


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
