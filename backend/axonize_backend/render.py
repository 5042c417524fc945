"""Stored rows as the API shows them: attribute texts, span events, percentiles.

The store keeps arrays and maps as protobuf behind a marker and some attributes as columns
(see :mod:`axonize_backend.schema`); this puts them back the way they were sent.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from axonize_backend.otlp import any_value, attributes
from axonize_backend.schema import (
    ARRAY_MARK,
    ATTRIBUTE_COLUMNS,
    EVENTS_MARK,
    KVLIST_MARK,
    ZERO_IS_ABSENT,
)


def value_text(value: Any) -> str:
    """A decoded attribute value as the API shows it (JSON for arrays and maps)."""
    t = type(value)
    if t is str:
        return str(value)
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
            return value_text([any_value(x) for x in values.values])
        if text.startswith(KVLIST_MARK):
            kvs = common_pb2.KeyValueList.FromString(base64.b64decode(text[len(KVLIST_MARK) :]))
            return value_text(attributes(kvs.values))
    except Exception:
        pass
    return text


def stored_events(text: str) -> list[dict[str, Any]]:
    """A span's stored events as the API shows them."""
    if not text:
        return []
    if not text.startswith(EVENTS_MARK):
        events: list[dict[str, Any]] = json.loads(text)
        return events
    out = []
    for item in text[len(EVENTS_MARK) :].split(","):
        event = trace_pb2.Span.Event.FromString(base64.b64decode(item))
        out.append(
            {
                "time_ns": int(event.time_unix_nano),
                "name": event.name,
                "attributes": attributes(event.attributes),
            }
        )
    return out


def span_attributes(row: dict[str, Any]) -> dict[str, str]:
    """A stored span's attributes: its map plus what the store keeps as columns (under every
    name the column is read from, see :data:`~axonize_backend.schema.ATTRIBUTE_COLUMNS`)."""
    out = {k: stored_text(v) for k, v in row["attributes"].items()}
    for column, names in ATTRIBUTE_COLUMNS.items():
        value = row.get(column)
        if value is None or value == "":
            continue
        if column in ZERO_IS_ABSENT:
            if not value:
                continue
            text = repr(value)
        else:
            text = repr(round(value, 3)) if isinstance(value, float) else str(value)
        for name in names:
            out.setdefault(name, text)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value  # not NaN


def finite(values: Any) -> bool:
    """Whether ``values`` is a list of numbers, none NaN (ClickHouse's empty quantiles)."""
    return isinstance(values, list) and all(_number(v) for v in values)


def percentiles(values: Any) -> dict[str, float]:
    """ClickHouse's quantiles(0.5, 0.95, 0.99) as {p50, p95, p99} (NaN -> 0 when empty)."""
    vals = [float(v) if _number(v) else 0.0 for v in values or ()]
    vals += [0.0] * (3 - len(vals))
    return {"p50": vals[0], "p95": vals[1], "p99": vals[2]}


def optional_number(value: Any) -> float | None:
    """A number, or None for NaN and anything else."""
    return float(value) if _number(value) else None


def jsonable(value: Any) -> Any:
    """Dicts and lists with their dates and times as ISO 8601 text."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
