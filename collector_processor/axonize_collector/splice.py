"""Attributes added to spans by rewriting the encoded request, without decoding it.

:func:`append_attributes` copies the body, adding encoded ``KeyValue`` s at the end of the chosen
spans and rewriting the lengths of the messages around them (scope spans, resource spans).
Protobuf reads fields in any order and repeated fields accumulate, so an attribute at the end of
a span is an attribute like the others.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from axonize_collector.wire import layout
from axonize_core.otlp_wire import encode_field, encode_key_value, encode_varint

_DOUBLE = struct.Struct("<d")
_LEN2 = [bytes((n & 0x7F | 0x80, n >> 7)) for n in range(0x80, 0x4000)]


def _len(n: int) -> bytes:
    """The varint of a length (those of two bytes made once)."""
    if 0x80 <= n < 0x4000:
        return _LEN2[n - 0x80]
    return encode_varint(n)

_DOUBLE_HEAD: dict[str, bytes] = {}  # key -> the encoding of a double attribute up to its value


def encode_attribute(key: str, value: Any) -> bytes:
    """A span attribute (field 9: a ``KeyValue``), encoded by the SDK's encoder."""
    if type(value) is float:  # the cost figures: the encoding up to the value, once per key
        head = _DOUBLE_HEAD.get(key)
        if head is None:
            head = _attribute(key, 0.0)[:-8]
            if len(_DOUBLE_HEAD) < 1024:
                _DOUBLE_HEAD[key] = head
        return head + _DOUBLE.pack(value)
    return _attribute(key, value)


def _attribute(key: str, value: Any) -> bytes:
    kv = encode_key_value(key, value)
    if kv is None:
        raise TypeError(f"cannot encode a {type(value).__name__} value")
    return encode_field(b"\x4a", kv)


def append_attributes(body: bytes, extra: Mapping[int, bytes],
                      replace: Mapping[int, bytes] | None = None) -> bytes:
    """``body`` with ``extra[k]`` (encoded attributes) appended to its ``k``-th span, and the
    ``k``-th span replaced by ``replace[k]`` (an encoded span)."""
    replace = replace or {}
    if not extra and not replace:
        return body
    lay = layout(body)
    fields = lay.fields
    edits: list[tuple[int, int, tuple[bytes, ...]]] = []  # (from, to, what replaces it)
    grew = [0] * len(fields)  # how much each span grew
    for k, new in replace.items():
        if k >= len(fields):
            continue
        at, start, end = fields[k]
        head = _len(len(new))
        edits.append((at, end, (head, new)))
        grew[k] = len(head) + len(new) - (end - at)
    for k, add in extra.items():
        if not add or k >= len(fields) or k in replace:
            continue
        at, start, end = fields[k]
        n = end - start + len(add)
        head = _LEN2[n - 0x80] if 0x80 <= n < 0x4000 else _len(n)
        edits.append((at, end, (head, body[start:end], add)))
        grew[k] = len(head) + len(add) - (start - at)
    boxes = lay.boxes
    heads = [0] * len(boxes)  # how much each box's length prefix grew
    for b in range(len(boxes) - 1, -1, -1):  # scopes before the resource holding them
        depth, at, start, end, first, stop = boxes[b]
        delta = sum(grew[first:stop])
        inner = b + 1
        while inner < len(boxes) and boxes[inner][0] > depth:  # the boxes inside it
            delta += heads[inner]
            inner += 1
        if delta:
            head = _len(end - start + delta)
            heads[b] = len(head) - (start - at)
            edits.append((at, start, (head,)))
    edits.sort()  # by where they start (no two start at the same place)
    parts: list[bytes] = []
    copied = 0
    for at, end, what in edits:
        parts.append(body[copied:at])
        parts += what
        copied = end
    parts.append(body[copied:])
    return b"".join(parts)


