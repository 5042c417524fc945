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

from axonize_collector.wire import varint
from axonize_core.otlp_wire import encode_field, encode_key_value, encode_varint

_DOUBLE = struct.Struct("<d")
_PATH = (1, 2, 2)  # as in axonize_collector.wire
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
    counter = [0]
    return _rebuild(body, 0, len(body), 0, extra, replace or {}, counter)


def _rebuild(buf: bytes, i: int, end: int, depth: int, extra: Mapping[int, bytes],
             replace: Mapping[int, bytes], counter: list[int]) -> bytes:
    want = _PATH[depth]
    last = depth == len(_PATH) - 1
    parts: list[bytes] = []
    copied = i  # bytes from here on not yet in parts
    while i < end:
        tag = buf[i]  # tags and lengths under 128 take one byte: read inline
        if tag < 0x80:
            i += 1
        else:
            tag, i = varint(buf, i)
        wire = tag & 7
        if wire == 2:
            n = buf[i]
            if n < 0x80:
                j = i + 1
            elif buf[i + 1] < 0x80:  # two bytes: a span's length, often
                n = (n & 0x7F) | buf[i + 1] << 7
                j = i + 2
            else:
                n, j = varint(buf, i)
            if tag >> 3 == want:
                if last:
                    k = counter[0]
                    counter[0] = k + 1
                    new = replace.get(k)
                    if new is not None:
                        parts += (buf[copied:i], _len(len(new)), new)
                        copied = j + n
                    else:
                        add = extra.get(k)
                        if add:
                            parts += (buf[copied:i], _len(n + len(add)), buf[j:j + n], add)
                            copied = j + n
                else:
                    inner = _rebuild(buf, j, j + n, depth + 1, extra, replace, counter)
                    if len(inner) != n or inner != buf[j:j + n]:
                        parts += (buf[copied:i], _len(len(inner)), inner)
                        copied = j + n
            i = j + n
        elif wire == 0:
            i = varint(buf, i)[1]
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"wire type {wire} not expected")
    if copied == 0 and not parts and depth == 0:
        return buf
    parts.append(buf[copied:end])
    return b"".join(parts)
