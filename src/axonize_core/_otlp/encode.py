"""OTLP protobuf encoding of finished spans, written by hand for the exporter thread.

Building ``opentelemetry-proto`` message objects costs more per span than writing the wire
format directly, and the exporter thread shares the GIL with inference.  This module writes
``ExportTraceServiceRequest`` bytes straight from Axonize spans (and from OTel SDK
``ReadableSpan`` objects, for :class:`~axonize_core.otel.AxonizeSpanProcessor`).  Encoded
key/value pairs that repeat (model names, operations, flags) are cached, with a bound.

The tests decode every payload with the official ``opentelemetry-proto`` classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from axonize_core import semconv as sc
from axonize_core._record import export_attributes, export_name

_LEN = [bytes((i,)) for i in range(128)]
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MASK64 = (1 << 64) - 1

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
# trace_id (field 1, 16 bytes), span_id (field 2, 8 bytes), ids big-endian as on the wire.
_pack_ids = struct.Struct(">BBQQBBQ").pack
_pack_parent = struct.Struct(">BBQ").pack
# start_time_unix_nano (field 7, fixed64), end_time_unix_nano (field 8, fixed64).
_pack_times = struct.Struct("<BQBQ").pack
# flags (field 16, fixed32): sampled, and "parent is_remote is known" (bit 8).
_FLAGS_LOCAL = b"\x85\x01" + struct.pack("<I", 0x101)
_FLAGS_REMOTE = b"\x85\x01" + struct.pack("<I", 0x301)
_KINDS = [b"\x30" + bytes((k,)) for k in range(6)]

_CACHE_LIMIT = 2048  # keys and span names
_VALUES_PER_KEY = 32  # cached encodings of (key, value) pairs, per key


def varint(n: int) -> bytes:
    if n < 0x80:
        return _LEN[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    return tag + (_LEN[n] if n < 0x80 else varint(n)) + payload


def any_value(v: Any) -> bytes | None:
    """The AnyValue message for ``v``; ``None`` for values OTLP cannot carry (dropped)."""
    t = type(v)
    if t is str:
        return field(b"\x0a", v.encode("utf-8", "replace"))
    if t is bool:
        return b"\x10\x01" if v else b"\x10\x00"
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return b"\x18" + varint(v & _MASK64)
        return field(b"\x0a", str(v).encode())
    if t is float:
        return b"\x21" + _pack_double(v)
    if v is None:
        return None
    if isinstance(v, (tuple, list)):
        items = []
        for x in v:
            if isinstance(x, (tuple, list, dict)):
                continue
            av = any_value(x)
            if av is not None:
                items.append(field(b"\x0a", av))
        return field(b"\x2a", b"".join(items))
    if isinstance(v, bool):
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, int):
        return any_value(int(v))
    if isinstance(v, float):
        return b"\x21" + _pack_double(float(v))
    if isinstance(v, str):
        return any_value(str(v))
    if isinstance(v, (bytes, bytearray)):
        return field(b"\x3a", bytes(v))
    if isinstance(v, Mapping):
        kvs = [kv for kv in (key_value(str(k), x) for k, x in v.items()) if kv is not None]
        return field(b"\x32", b"".join(field(b"\x0a", kv) for kv in kvs))
    try:
        text = str(v)
    except Exception:
        return None
    return field(b"\x0a", text.encode("utf-8", "replace"))


def key_value(key: str, v: Any) -> bytes | None:
    av = any_value(v)
    if av is None:
        return None
    return field(b"\x0a", key.encode("utf-8", "replace")) + field(b"\x12", av)


def attributes_field(tag: bytes, attrs: Mapping[str, Any] | None) -> bytes:
    """Repeated KeyValue ``attributes`` under ``tag`` (uncached; for resources, events)."""
    if not attrs:
        return b""
    out = []
    for k, v in attrs.items():
        kv = key_value(str(k), v)
        if kv is not None:
            out.append(field(tag, kv))
    return b"".join(out)


def resource_message(attrs: Mapping[str, Any]) -> bytes:
    return attributes_field(b"\x0a", attrs)


def scope_message(name: str, version: str | None) -> bytes:
    out = field(b"\x0a", name.encode())
    if version:
        out += field(b"\x12", version.encode())
    return out


def translate(attrs: dict[str, Any] | None, mode: str) -> dict[str, Any] | None:
    """Apply ``AXONIZE_SEMCONV``: add (``both``) or substitute (``gen_ai``) the standard names."""
    if not attrs or mode == "axonize" or _GEN_AI_KEYS.isdisjoint(attrs):
        return attrs
    out: dict[str, Any] = {}
    both = mode == "both"
    for k, v in attrs.items():
        g = _GEN_AI_NAMES.get(k)
        if g is None:
            out[k] = v
            continue
        if both:
            out[k] = v
        if g not in attrs:  # a standard name the user set explicitly wins
            out[g] = v
    return out


_GEN_AI_NAMES = sc.GEN_AI_NAMES
_GEN_AI_KEYS = frozenset(_GEN_AI_NAMES)
_GEN_AI_TARGETS = frozenset(_GEN_AI_NAMES.values())
_TRUE = b"\x10\x01"
_FALSE = b"\x10\x00"


class _KeyEncoding:
    """How one attribute key is written: its key field(s) and its cached whole fields."""

    __slots__ = ("bools", "plan", "values")

    def __init__(self, plan: tuple[bytes, ...]) -> None:
        self.plan = plan  # one encoded key per exported name (two under semconv=both)
        self.values: dict[Any, bytes] = {}  # str and int values -> complete encoded fields
        self.bools = (self.field_for(_FALSE), self.field_for(_TRUE))

    def field_for(self, av: bytes) -> bytes:
        """Field(s) 9 of Span holding ``KeyValue(key, av)`` for every name in the plan."""
        alen = len(av)
        vfield = b"\x12" + (_LEN[alen] if alen < 0x80 else varint(alen))
        parts: list[bytes] = []
        for kb in self.plan:
            blen = len(kb) + len(vfield) + alen
            parts += (b"\x4a", _LEN[blen] if blen < 0x80 else varint(blen), kb, vfield, av)
        return b"".join(parts)


class TraceEncoder:
    """Encodes batches of finished spans into ``ExportTraceServiceRequest`` bytes."""

    def __init__(
        self,
        resource: Mapping[str, Any],
        scope_name: str = "axonize",
        scope_version: str | None = None,
        semconv: str = "both",
    ) -> None:
        self._resource_field = field(b"\x0a", resource_message(resource))
        self._scope_field = field(b"\x0a", scope_message(scope_name, scope_version))
        self._scope_fields: dict[tuple[str, str], bytes] = {}
        self._semconv = semconv
        self._keys: dict[str, _KeyEncoding] = {}
        self._name_cache: dict[str, bytes] = {}

    # ------------------------------------------------------------------ pieces
    def _key_encoding(self, key: str) -> _KeyEncoding:
        names = [key]
        genai = _GEN_AI_NAMES.get(key) if self._semconv != "axonize" else None
        if genai is not None:
            names = [genai] if self._semconv == "gen_ai" else [key, genai]
        enc = _KeyEncoding(tuple(field(b"\x0a", n.encode("utf-8", "replace")) for n in names))
        if len(self._keys) >= _CACHE_LIMIT:
            self._keys.clear()
        self._keys[key] = enc
        return enc

    def _attributes(self, attrs: Mapping[str, Any], out: list[bytes]) -> None:
        """Append the span's ``attributes`` fields (field 9) to ``out``.

        The complete encoded field of a (key, value) pair that repeats (model names, routes,
        small counts) is cached; under ``semconv=both`` it already holds both names.
        """
        keys = self._keys
        if self._semconv != "axonize" and not _GEN_AI_TARGETS.isdisjoint(attrs):
            # The user set gen_ai.* names themselves: translate explicitly, then encode as is.
            for k, v in (translate(dict(attrs), self._semconv) or {}).items():
                av = any_value(v)
                if av is not None:
                    out.append(_KeyEncoding((field(b"\x0a", str(k).encode()),)).field_for(av))
            return
        append = out.append
        for k, v in attrs.items():
            enc = keys.get(k)
            if enc is None:
                enc = self._key_encoding(k)
            t = type(v)
            if t is str or t is int:
                full = enc.values.get(v)
                if full is None:
                    av = any_value(v)
                    if av is None:
                        continue
                    full = enc.field_for(av)
                    if len(enc.values) < _VALUES_PER_KEY:  # beyond: a high-cardinality key
                        enc.values[v] = full
                append(full)
            elif t is float:
                append(enc.field_for(b"\x21" + _pack_double(v)))
            elif t is bool:
                append(enc.bools[v])
            else:
                av = any_value(v)
                if av is not None:
                    append(enc.field_for(av))

    def _kv(self, key: str, v: Any) -> bytes | None:
        """One attribute as field 9 of Span, names untranslated (OTel SDK spans)."""
        kv = key_value(key, v)
        return None if kv is None else field(b"\x4a", kv)

    def _name(self, name: str) -> bytes:
        hit = self._name_cache.get(name)
        if hit is None:
            hit = field(b"\x2a", name.encode("utf-8", "replace"))
            if len(self._name_cache) >= _CACHE_LIMIT:
                self._name_cache.clear()
            self._name_cache[name] = hit
        return hit

    @staticmethod
    def _events(events: Iterable[tuple[int, str, Mapping[str, Any] | None]]) -> bytes:
        out = []
        for ts, name, attrs in events:
            body = (b"\x09" + _pack_fixed64(ts) + field(b"\x12", name.encode("utf-8", "replace"))
                    + attributes_field(b"\x1a", attrs))
            out.append(field(b"\x5a", body))
        return b"".join(out)

    @staticmethod
    def _status(code: int, message: str) -> bytes:
        body = b""
        if message:
            body += field(b"\x12", message.encode("utf-8", "replace"))
        if code:
            body += b"\x18" + _LEN[code]
        return field(b"\x7a", body)

    def _wrap(self, spans_body: bytes, resource_field: bytes, scope_field: bytes) -> bytes:
        scope_spans = scope_field + spans_body
        return field(b"\x0a", resource_field + field(b"\x12", scope_spans))

    # ------------------------------------------------------------------ axonize spans
    def encode(self, records: Sequence[Any]) -> bytes:
        """``ExportTraceServiceRequest`` bytes for Axonize span records (``_record``).

        One ``ScopeSpans`` per instrumentation scope: Axonize's own, and each plugin's (the
        last field of an LLM record).
        """
        parts: list[bytes] = []
        scoped: dict[tuple[str, str], list[bytes]] | None = None
        name_of = self._name
        encode_attributes = self._attributes
        for rec in records:
            try:
                llm = rec[12]
                out = parts
                if llm is not None and llm[8] is not None:
                    if scoped is None:
                        scoped = {}
                    out = scoped.setdefault(llm[8], [])
                tid = rec[1]
                chunks = [_pack_ids(0x0A, 0x10, tid >> 64, tid & _MASK64, 0x12, 0x08, rec[2])]
                pid = rec[3]
                if pid:
                    chunks.append(_pack_parent(0x22, 0x08, pid))
                chunks.append(name_of(rec[0] or export_name(rec)))
                chunks.append(_KINDS[rec[6]])
                chunks.append(_pack_times(0x39, rec[4], 0x41, rec[5]))
                attrs = (rec[7] if llm is None and rec[11] is None and rec[9] != 2
                         else export_attributes(rec))
                if attrs:
                    encode_attributes(attrs, chunks)
                if rec[8]:
                    chunks.append(self._events(rec[8]))
                if rec[9]:
                    chunks.append(self._status(rec[9], rec[10]))
                chunks.append(_FLAGS_LOCAL)
                body = b"".join(chunks)
                n = len(body)
                out.append(b"\x12" + (_LEN[n] if n < 0x80 else varint(n)) + body)
            except Exception:
                from axonize_core._log import debug_once

                debug_once("encode-span", "axonize: could not encode a span", exc_info=True)
        if scoped is None:
            return self._wrap(b"".join(parts), self._resource_field, self._scope_field)
        groups = [field(b"\x12", self._scope_field + b"".join(parts))] if parts else []
        for (name, version), spans in scoped.items():
            scope_field = self._scope_fields.get((name, version))
            if scope_field is None:
                scope_field = field(b"\x0a", scope_message(name, version))
                self._scope_fields[(name, version)] = scope_field
            groups.append(field(b"\x12", scope_field + b"".join(spans)))
        return field(b"\x0a", self._resource_field + b"".join(groups))

    # ------------------------------------------------------------------ OTel SDK spans
    def encode_readable(self, spans: Sequence[Any]) -> bytes:
        """``ExportTraceServiceRequest`` bytes for OTel SDK ``ReadableSpan`` objects."""
        groups: dict[tuple[int, Any], tuple[bytes, bytes, list[bytes]]] = {}
        for sp in spans:
            try:
                res = sp.resource
                scope = sp.instrumentation_scope
                key = (id(res), (scope.name, scope.version) if scope else None)
                g = groups.get(key)
                if g is None:
                    res_field = field(b"\x0a", resource_message(dict(res.attributes)))
                    scope_field = field(
                        b"\x0a", scope_message(scope.name if scope else "", scope and scope.version)
                    )
                    g = groups[key] = (res_field, scope_field, [])
                g[2].append(self._readable_span(sp))
            except Exception:
                from axonize_core._log import debug_once

                debug_once("encode-otel-span", "axonize: could not encode an OTel span",
                           exc_info=True)
        return b"".join(
            self._wrap(b"".join(parts), rf, sf) for rf, sf, parts in groups.values()
        )

    def _readable_span(self, sp: Any) -> bytes:
        ctx = sp.context
        tid = ctx.trace_id
        chunks = [_pack_ids(0x0A, 0x10, tid >> 64, tid & _MASK64, 0x12, 0x08, ctx.span_id)]
        ts = getattr(ctx, "trace_state", None)
        if ts:
            chunks.append(field(b"\x1a", ts.to_header().encode()))
        parent = sp.parent
        if parent is not None and parent.span_id:
            chunks.append(_pack_parent(0x22, 0x08, parent.span_id))
        chunks.append(self._name(sp.name))
        chunks.append(_KINDS[int(sp.kind.value) + 1])
        start = sp.start_time or 0
        chunks.append(_pack_times(0x39, start, 0x41, sp.end_time or start))
        kv = self._kv
        for k, v in (sp.attributes or {}).items():
            enc = kv(k, v)
            if enc is not None:
                chunks.append(enc)
        if sp.dropped_attributes:
            chunks.append(b"\x50" + varint(sp.dropped_attributes))
        if sp.events:
            chunks.append(self._events((e.timestamp, e.name, e.attributes) for e in sp.events))
        for link in sp.links or ():
            lc = link.context
            body = (_pack_ids(0x0A, 0x10, lc.trace_id >> 64, lc.trace_id & _MASK64, 0x12, 0x08,
                              lc.span_id) + attributes_field(b"\x22", link.attributes))
            chunks.append(field(b"\x6a", body))
        status = sp.status
        if status is not None and status.status_code.value:
            chunks.append(self._status(int(status.status_code.value), status.description or ""))
        remote = parent is not None and parent.is_remote
        chunks.append(_FLAGS_REMOTE if remote else _FLAGS_LOCAL)
        return field(b"\x12", b"".join(chunks))
