"""Where each span lies in an encoded ``ExportTraceServiceRequest``, read from the protobuf
wire format without decoding it: the byte ranges of the spans, in the order the decoded
message holds them (``resource_spans[i].scope_spans[j].spans[k]``, flattened).

Processors use it to look at the body once, in C (a regular expression over the bytes), and
then only at the spans where something matched.
"""

from __future__ import annotations

# Field numbers: ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.scope_spans = 2,
# ScopeSpans.spans = 2.
_PATH = (1, 2, 2)
#: Where the length of a field starts and where its contents end: ``(length_at, start, end)``.
Field = tuple[int, int, int]
_last: tuple[bytes, Layout] | None = None  # the last body walked, and its layout


class Layout:
    """The spans of an encoded request, and the messages around them (for a splice)."""

    __slots__ = ("boxes", "fields", "ranges")

    def __init__(self) -> None:
        #: Each span's ``(start, end)``.
        self.ranges: list[tuple[int, int]] = []
        #: Each span's field (its length prefix and contents).
        self.fields: list[Field] = []
        #: The resource spans and scope spans, in body order: ``[depth, length_at, start,
        #: end, first span, end span]``.
        self.boxes: list[list[int]] = []


def varint(buf: bytes, i: int) -> tuple[int, int]:
    """The varint at ``buf[i]``, and where the next field starts."""
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _skip(buf: bytes, i: int, wire: int) -> int:
    if wire == 0:
        return varint(buf, i)[1]
    if wire == 1:
        return i + 8
    if wire == 2:
        n, i = varint(buf, i)
        return i + n
    if wire == 5:
        return i + 4
    raise ValueError(f"wire type {wire} not expected")


def span_ranges(body: bytes) -> list[tuple[int, int]]:
    """The ``(start, end)`` byte range of every span of a protobuf-encoded request (valid
    protobuf: parse it first).  Raises ``ValueError`` on a body it cannot walk."""
    return layout(body).ranges


def layout(body: bytes) -> Layout:
    """The :class:`Layout` of a protobuf-encoded request (:func:`span_ranges`)."""
    global _last
    last = _last
    if last is not None and last[0] is body:  # the processors of one request share a walk
        return last[1]
    out = Layout()
    try:
        _walk(body, 0, len(body), 0, out)
    except IndexError:
        raise ValueError("truncated protobuf") from None
    _last = (body, out)
    return out


def _walk(buf: bytes, i: int, end: int, depth: int, out: Layout) -> None:
    want = _PATH[depth]
    last = depth == len(_PATH) - 1
    ranges, fields = out.ranges, out.fields
    while i < end:
        tag = buf[i]  # tags and lengths under 128 take one byte: read inline
        if tag < 0x80:
            i += 1
        else:
            tag, i = varint(buf, i)
        if tag & 7 == 2:
            at = i
            n = buf[i]
            if n < 0x80:
                i += 1
            elif buf[i + 1] < 0x80:  # two bytes: a span's length, often
                n = (n & 0x7F) | buf[i + 1] << 7
                i += 2
            else:
                n, i = varint(buf, i)
            if i + n > end:
                raise ValueError("a length runs past the end of its message")
            if tag >> 3 == want:
                if last:
                    ranges.append((i, i + n))
                    fields.append((at, i, i + n))
                else:
                    box = [depth, at, i, i + n, len(ranges), 0]
                    out.boxes.append(box)
                    _walk(buf, i, i + n, depth + 1, out)
                    box[5] = len(ranges)
            i += n
        else:
            i = _skip(buf, i, tag & 7)
    if i != end:
        raise ValueError("a field runs past the end of its message")
