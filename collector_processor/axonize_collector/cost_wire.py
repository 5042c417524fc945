"""The cost processor's fast path: the attributes it prices from, read from the protobuf body
with one regular expression instead of decoding every attribute of every span.

A span attribute is a ``KeyValue`` in field 9 of ``Span`` (tag byte ``0x4a``), whose key is field
1 (``0x0a``) and value field 2 (``0x12``); the match is taken only with that framing, so the same
names in events, links, nested maps or the resource do not count.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from axonize_collector.wire import span_ranges, varint

_KEYS = re.compile(
    # A span attribute: field 9 (0x4a) and the KeyValue's length (one or two bytes), its key.
    rb"\x4a[\x80-\xff]?[\x00-\x7f]\x0a([\x00-\x7f])"
    rb"(gen_ai\.(?:usage\.(?:input_tokens|output_tokens|prompt_tokens|completion_tokens)"
    rb"|request\.model|response\.model)"
    rb"|ai\.(?:llm\.tokens\.(?:input|output)|response\.model|model\.name)"
    rb"|cost\.[a-z_]+|gpu\.\d+\.(?:name|mig\.profile))\x12"
    # The value: a one-byte length, then a short string, a varint or a double.
    rb"(?:[\x00-\x7f](?:\x0a([\x00-\x7f])|\x18([\x80-\xff]{0,9}[\x00-\x7f])|\x21(.{8}))?"
    rb"|[\x80-\xff])",
    re.DOTALL)
_DOUBLE = struct.Struct("<d")
#: Marks in a span's found attributes: it has ``gpu.*`` keys, or ``cost.*`` keys.
GPU, COST = "\0gpu", "\0cost"
_NAMES: dict[bytes, str] = {}  # keys as found, decoded once


def _value(body: bytes, i: int) -> Any:
    """The ``AnyValue`` whose length prefix starts at ``i``: a str, int or float (else None)."""
    n, i = varint(body, i)
    if not n:
        return None
    tag = body[i]
    if tag == 0x0A:  # string_value
        size, j = varint(body, i + 1)
        return body[j:j + size].decode("utf-8", "replace")
    if tag == 0x18:  # int_value
        v, _ = varint(body, i + 1)
        return v - (1 << 64) if v >= 1 << 63 else v
    if tag == 0x21:  # double_value
        return _DOUBLE.unpack_from(body, i + 1)[0]
    return None


def _after_key(m: re.Match[bytes]) -> int:
    """Where the value's length prefix starts (just after the ``0x12`` tag)."""
    return m.end(2) + 1


def priced_attributes(body: bytes) -> dict[int, dict[str, Any]] | None:
    """For each span (by position) that has any of the cost processor's attributes: those
    attributes, decoded.  None when the body cannot be walked (decode every span instead)."""
    found: dict[int, dict[str, Any]] = {}
    ranges: list[tuple[int, int]] | None = None
    k = 0  # matches come in body order, and so do the spans: one pass over both
    try:
        for m in _KEYS.finditer(body):
            at = m.start()
            klen, key, size, number, double = m.groups()
            if len(key) != klen[0]:
                continue
            if ranges is None:
                ranges = span_ranges(body)
            while k < len(ranges) and ranges[k][1] <= at:
                k += 1
            if k == len(ranges) or at < ranges[k][0]:
                continue  # not inside a span
            if size is not None:
                value: Any = body[m.end():m.end() + size[0]].decode("utf-8", "replace")
            elif number is not None:
                value = number[0] if len(number) == 1 else (
                    (number[0] & 0x7F) | number[1] << 7 if len(number) == 2
                    else varint(number, 0)[0])
                if value >= 1 << 63:
                    value -= 1 << 64
            elif double is not None:
                value = _DOUBLE.unpack(double)[0]
            else:  # longer or other values: read them the long way
                value = _value(body, _after_key(m))
            attrs = found.get(k)
            if attrs is None:
                attrs = found[k] = {}
            name = _NAMES.get(key)
            if name is None:
                name = key.decode()
                if len(_NAMES) < 1024:
                    _NAMES[key] = name
            attrs[name] = value
            if key.startswith((b"gpu.", b"cost.")):
                attrs[GPU if key[0] == 0x67 else COST] = True
    except (IndexError, ValueError, struct.error):
        return None
    return found


# The token fast path: the roles of the keys above that price a span from its tokens alone.
_MODEL_ROLES = (b"gen_ai.response.model", b"ai.response.model", b"gen_ai.request.model",
                b"ai.model.name")
_IN_ROLES = (b"gen_ai.usage.input_tokens", b"ai.llm.tokens.input", b"gen_ai.usage.prompt_tokens")
_OUT_ROLES = (b"gen_ai.usage.output_tokens", b"ai.llm.tokens.output",
              b"gen_ai.usage.completion_tokens")
_ROLE = {k: i for i, k in enumerate((*_MODEL_ROLES, *_IN_ROLES, *_OUT_ROLES))}
# The keys with their length byte, as the token pattern finds them.
_ROLE_FRAMED = {bytes([len(k)]) + k: i for k, i in _ROLE.items()}
_EMPTY: list[Any] = [None] * len(_ROLE)  # None: a role no attribute of the span filled


_TOKEN_KEYS = re.compile(
    # As _KEYS, for the keys of _ROLE only (their length is part of the pattern), a string
    # value followed by up to 127 bytes from where it starts (cut to its length by the caller).
    rb"\x4a[\x80-\xff]?[\x00-\x7f]\x0a("
    + b"|".join(re.escape(k) for k in _ROLE_FRAMED)
    # and the keys the general path is for: found to hand the request to it.
    + rb"|[\x00-\x7f](?:cost\.[a-z_]+|gpu\.\d+\.(?:name|mig\.profile))"
    + rb")\x12"
    rb"(?:[\x00-\x7f](?:\x0a([\x00-\x7f])(?=(.{0,127}))|\x18([\x80-\xff]{0,9}[\x00-\x7f])"
    rb"|\x21(.{8}))?|[\x80-\xff])",
    re.DOTALL)


# Varints of one and two bytes (token counts under 16384), decoded once.
_SMALL: dict[bytes, int] = {bytes((n,)): n for n in range(0x80)}
_SMALL.update({bytes((n & 0x7F | 0x80, n >> 7)): n for n in range(0x80, 0x4000)})


def token_attributes(body: bytes) -> dict[int, list[Any]] | None:
    """:func:`priced_attributes` for the common case, with less work per match: for each span
    (by position) that has any of the attributes, their values by role (model names in the
    order :data:`axonize_collector.cost.MODEL_KEYS`, then the input and output token keys in
    theirs; None where absent), strings as their raw UTF-8 bytes.  None when a span
    has anything else (``cost.*``, ``gpu.*``, a value longer than 127 bytes or of another type)
    or the body cannot be walked: :func:`priced_attributes` then."""
    try:
        ranges = span_ranges(body)
    except ValueError:
        return None
    found: dict[int, list[Any]] = {}
    role = _ROLE_FRAMED.get
    small = _SMALL.get
    findall = _TOKEN_KEYS.findall
    try:
        for k, (start, end) in enumerate(ranges):
            matches = findall(body, start, end)
            if not matches:
                continue
            vals = found[k] = list(_EMPTY)
            for key, size, text, number, double in matches:
                r = role(key)
                if r is None:
                    return None  # cost.* or gpu.*
                if size:
                    vals[r] = text[:size[0]]
                elif number:
                    v = small(number)
                    if v is None:
                        v = varint(number, 0)[0]
                        if v >= 1 << 63:
                            v -= 1 << 64
                    vals[r] = v
                elif double:
                    vals[r] = _DOUBLE.unpack(double)[0]
                else:
                    return None  # a longer or other value
    except (IndexError, ValueError, struct.error):
        return None
    return found
