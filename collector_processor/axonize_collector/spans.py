"""Reading and writing attributes of decoded OTLP spans (protobuf messages) in place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axonize_core.otlp_wire import any_value


def find(kvs: Iterable[Any], keys: frozenset[str]) -> dict[str, Any]:
    """The plain values of those of ``keys`` that ``kvs`` holds (one pass over ``kvs``)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        key = kv.key
        if key in keys:
            out[key] = any_value(kv.value)
    return out


def has_key(kvs: Iterable[Any], key: str) -> bool:
    return any(kv.key == key for kv in kvs)


def set_value(target: Any, value: Any) -> None:
    """Write a plain value into an OTLP ``AnyValue``."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, (list, tuple)):
        target.array_value.SetInParent()
        del target.array_value.values[:]
        for item in value:
            set_value(target.array_value.values.add(), item)
    else:
        target.string_value = str(value)


def put(kvs: Any, values: dict[str, Any], overwrite: bool = True) -> None:
    """Set ``values`` on the repeated key-values ``kvs`` (an existing key is replaced, or kept
    when ``overwrite`` is false)."""
    if not values:
        return
    left = dict(values)
    for kv in kvs:
        if kv.key in left:
            value = left.pop(kv.key)
            if overwrite:
                kv.value.Clear()
                set_value(kv.value, value)
    for key, value in left.items():
        set_value(kvs.add(key=key).value, value)


def append(kvs: Any, values: dict[str, Any]) -> None:
    """Add ``values`` to ``kvs`` whose keys are known not to be there yet (no look first)."""
    for key, value in values.items():
        set_value(kvs.add(key=key).value, value)


def remove(kvs: Any, drop: Any) -> int:
    """Remove the key-values whose key ``drop(key)`` is true; returns how many."""
    gone = [i for i, kv in enumerate(kvs) if drop(kv.key)]
    for i in reversed(gone):
        del kvs[i]
    return len(gone)


def duration_s(span: Any) -> float:
    return max(0, int(span.end_time_unix_nano) - int(span.start_time_unix_nano)) / 1e9


def is_error(span: Any) -> bool:
    return bool(span.status.code == 2)  # STATUS_CODE_ERROR
