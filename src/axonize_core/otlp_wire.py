"""OTLP trace requests in: decoding (protobuf or OTLP/JSON), id checks and value reading.

Shared by every part that receives OTLP from others: the backend's ingest and the collector
relay (``axonize-collector``) read requests with these functions, so both accept and refuse the
same bodies for the same reasons.  A malformed body raises :class:`MalformedOtlp` (a
``ValueError``) whose message says what is wrong; each receiver turns it into its own answer
(HTTP 400, gRPC ``INVALID_ARGUMENT``).

For code that edits encoded requests (the collector splices attributes into them), the SDK's
own protobuf encoding pieces are public here: :func:`encode_varint`, :func:`encode_field` (a
length-delimited field) and :func:`encode_key_value` (a ``KeyValue`` message).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_core._otlp.encode import field as encode_field
from axonize_core._otlp.encode import key_value as encode_key_value
from axonize_core._otlp.encode import varint as encode_varint

__all__ = ["ID_FIELDS", "JSON", "PROTOBUF", "SPAN_ID_BYTES", "TRACE_ID_BYTES", "MalformedOtlp",
           "any_value", "attributes", "check_span_ids", "encode_field", "encode_key_value",
           "encode_varint", "hex_ids_to_base64", "parse_into", "parse_traces", "short_name",
           "span_count"]

#: The OTLP/JSON fields that hold ids (hex in OTLP/JSON, base64 in protobuf's JSON mapping).
ID_FIELDS = ("traceId", "spanId", "parentSpanId")
TRACE_ID_BYTES, SPAN_ID_BYTES = 16, 8
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class MalformedOtlp(ValueError):
    """A request that is not valid OTLP; the message says why."""


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


def parse_into(req: Any, body: bytes, content_type: str, what: str) -> Any:
    """Fill ``req`` from OTLP protobuf or OTLP/JSON; a bad body raises :class:`MalformedOtlp`."""
    if content_type.startswith(JSON):
        try:
            json_format.ParseDict(hex_ids_to_base64(json.loads(body)), req)
        except MalformedOtlp:
            raise
        except Exception as exc:
            raise MalformedOtlp(f"invalid OTLP/JSON {what}: {exc}") from None
        return req
    try:
        req.ParseFromString(body)
    except Exception:
        raise MalformedOtlp(
            f"invalid OTLP protobuf: the body is not an {type(req).__name__}"
        ) from None
    return req


def parse_traces(body: bytes, content_type: str) -> Any:
    """An ``ExportTraceServiceRequest`` from its protobuf or OTLP/JSON body."""
    return parse_into(ts.ExportTraceServiceRequest(), body, content_type, "traces")


def hex_ids_to_base64(doc: Any) -> Any:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping wants base64 for bytes."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in ID_FIELDS and isinstance(v, str) and v:
                try:
                    v = base64.b64encode(bytes.fromhex(v)).decode()
                except ValueError:
                    raise MalformedOtlp(f"{k} {v!r} is not hex") from None
            out[k] = hex_ids_to_base64(v)
        return out
    if isinstance(doc, list):
        return [hex_ids_to_base64(x) for x in doc]
    return doc


def check_span_ids(sp: Any) -> None:
    """Raise :class:`MalformedOtlp` if the span's trace, span or parent id has the wrong
    length."""
    if len(sp.trace_id) != TRACE_ID_BYTES or len(sp.span_id) != SPAN_ID_BYTES:
        raise MalformedOtlp(f"span {short_name(sp.name)} has an invalid trace or span id")
    parent = sp.parent_span_id
    if parent and len(parent) != SPAN_ID_BYTES:
        raise MalformedOtlp(f"span {short_name(sp.name)} has an invalid parent span id")


def short_name(name: str) -> str:
    """A span name as quoted in a reason (at most about 80 characters)."""
    return repr(name if len(name) <= 80 else name[:80] + "...")


def span_count(req: Any) -> int:
    """How many spans a trace request holds."""
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
