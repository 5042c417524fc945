"""Filter and sample: drop spans by attribute; keep a share of the rest, but every error and
every slow trace.

The sampler decides by trace id (the same decision for every span of a trace, in any relay that
uses the same ratio).  A trace is kept whole when one of its spans failed or lasted at least
``slow_ms``, even when its spans come in several requests: a span that the ratio would drop is
held (processed, encoded) for ``decision_wait_s``; if a failed or slow span of its trace arrives
in that time, the held spans go out with that request, and the trace's later spans are kept too.
At most ``hold_spans`` spans are held (the oldest traces go first); held spans live in memory
only, so a restart of the relay forgets them.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_collector.pipeline import DROP, HOLD, Counts, Processor, Resource
from axonize_collector.spans import duration_s, find, is_error

_BOUND = 1 << 64


class FilterProcessor(Processor):
    """Drops spans that match any rule: ``{"attribute": key}`` plus one of ``equals: value``,
    ``matches: regex`` or ``exists: true``; or ``{"span_name": regex}``."""

    name = "filter"
    atomic = True

    def __init__(self, drop: Sequence[Mapping[str, Any]]) -> None:
        self.rules: list[tuple[str, str, Any]] = []
        for rule in drop:
            if "span_name" in rule:
                self.rules.append(("name", "", re.compile(str(rule["span_name"]))))
            elif "attribute" in rule:
                key = str(rule["attribute"])
                if "equals" in rule:
                    self.rules.append(("equals", key, rule["equals"]))
                elif "matches" in rule:
                    self.rules.append(("matches", key, re.compile(str(rule["matches"]))))
                else:
                    self.rules.append(("exists", key, None))
            else:
                raise ValueError(f"filter rule {dict(rule)!r}: give `attribute` or `span_name`")
        self._keys = frozenset(k for kind, k, _ in self.rules if kind != "name")

    def process(self, span: Any, resource: Resource, counts: Counts) -> str | None:
        attrs = find(span.attributes, self._keys) if self._keys else {}
        for kind, key, arg in self.rules:
            if kind == "name":
                hit = arg.search(span.name) is not None
            elif key not in attrs:
                continue
            elif kind == "equals":
                hit = attrs[key] == arg
            elif kind == "matches":
                hit = arg.search(str(attrs[key])) is not None
            else:
                hit = True
            if hit:
                return DROP
        return None


class SampleProcessor(Processor):
    """Keeps ``ratio`` of the traces, and every trace with a failed or slow span (see the
    module's text for the decision window)."""

    stateful = True
    name = "sample"
    atomic = True

    def __init__(self, ratio: float, keep_errors: bool = True,
                 slow_ms: float | None = None, decision_wait_s: float = 30.0,
                 hold_spans: int = 50_000, hold_mb: float = 64.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sample ratio {ratio} is not between 0 and 1")
        if decision_wait_s < 0 or hold_spans < 0 or hold_mb < 0:
            raise ValueError("sample: decision_wait_s, hold_spans and hold_mb cannot be negative")
        self.bound = int(ratio * _BOUND)
        self.keep_errors = keep_errors
        self.slow_s = None if slow_ms is None else slow_ms / 1000.0
        self.decision_wait_s = float(decision_wait_s)
        self.hold_spans = int(hold_spans) if decision_wait_s > 0 and hold_mb > 0 else 0
        self.hold_bytes = int(hold_mb * 2**20)
        self._clock = clock
        #: traces with a failed or slow span in this request
        self._keep: set[bytes] = set()
        #: traces kept for a failed or slow span seen earlier: trace id -> when (oldest first)
        self._kept: dict[bytes, float] = {}
        #: spans the ratio dropped, held in case their trace turns out to fail:
        #: trace id -> (when first held, [(scope key, encoded span)]), oldest first
        self._held: dict[bytes, tuple[float, list[tuple[int, bytes]]]] = {}
        self._held_count = 0
        self._held_bytes = 0
        self._given_up = 0  # held spans let go (expired, or pushed out by newer ones)
        #: the resource and scope of held spans: key -> (resource, schema, scope, schema)
        self._scopes: dict[int, tuple[bytes, str, bytes, str]] = {}
        self._scope_keys: dict[tuple[bytes, str, bytes, str], int] = {}
        self._next_key = 0
        self._compact_at = 1_000  # scope keys known before unused ones are forgotten
        self._release: list[tuple[int, bytes]] = []
        # This request's scopes: the first span ordinal of each, and the messages.
        self._starts: list[int] = []
        self._spans_of: list[tuple[Any, Any]] = []
        self._keys_now: dict[int, int] = {}  # this request's scope index -> key
        # What this request changed, for :meth:`rollback`: traces it released, spans it held.
        self._undo_released: list[tuple[bytes, tuple[float, list[tuple[int, bytes]]]]] = []
        self._undo_held: list[bytes] = []

    def begin(self, req: Any, body: bytes | None) -> bool:
        self._undo_released, self._undo_held = [], []  # the previous request went out
        if self.bound >= _BOUND:
            return False  # keeps everything
        now = self._clock()
        self._expire(now)
        keep = set()
        starts: list[int] = []
        spans_of: list[tuple[Any, Any]] = []
        at = 0
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                starts.append(at)
                spans_of.append((rs, ss))
                at += len(ss.spans)
                for span in ss.spans:
                    if (self.keep_errors and is_error(span)) or (
                            self.slow_s is not None and duration_s(span) >= self.slow_s):
                        keep.add(bytes(span.trace_id))
        for tid in keep:
            self._kept.pop(tid, None)
            self._kept[tid] = now
            held = self._held.pop(tid, None)
            if held is not None:
                self._release.extend(held[1])
                self._held_count -= len(held[1])
                self._held_bytes -= _size(held[1])
                self._undo_released.append((tid, held))
        self._keep = keep
        self._starts, self._spans_of = starts, spans_of
        self._keys_now = {}
        return True

    def process(self, span: Any, resource: Resource, counts: Counts) -> str | None:
        tid = bytes(span.trace_id)
        if tid in self._keep or tid in self._kept:
            return None
        # The low 8 bytes, as OTel's TraceIdRatioBased reads them.
        if int.from_bytes(tid[8:16], "big") < self.bound:
            return None
        if self.hold_spans:
            self._hold(tid, span, counts.at)
            return HOLD
        return DROP

    def released(self) -> tuple[Any | None, int]:
        """The held spans whose trace this request decided to keep, as a request of their
        own (already processed), and how many were let go since the last call."""
        given_up, self._given_up = self._given_up, 0
        release, self._release = self._release, []
        if not release:
            return None, given_up
        out = ts.ExportTraceServiceRequest()
        last_key = -1
        scope: Any = None
        for key, data in sorted(release, key=lambda item: item[0]):
            if key != last_key:
                resource, rs_schema, scope_msg, ss_schema = self._scopes[key]
                rs = out.resource_spans.add(schema_url=rs_schema)
                rs.resource.MergeFromString(resource)
                scope = rs.scope_spans.add(schema_url=ss_schema)
                scope.scope.MergeFromString(scope_msg)
                last_key = key
            scope.spans.add().MergeFromString(data)
        return out, given_up

    def rollback(self) -> None:
        """The last request's output was not taken (the relay's queue refused it; its sender
        retries): hold again what it released, and forget what it held, which comes back."""
        for tid in reversed(self._undo_held):
            entry = self._held.get(tid)
            if entry is None or not entry[1]:  # let go already
                continue
            _, data = entry[1].pop()
            self._held_count -= 1
            self._held_bytes -= len(data)
            if not entry[1]:
                del self._held[tid]
        for tid, entry in self._undo_released:  # a kept trace's spans are never held meanwhile
            self._kept.pop(tid, None)
            self._held[tid] = entry
            self._held_count += len(entry[1])
            self._held_bytes += _size(entry[1])
        self._undo_released, self._undo_held, self._release = [], [], []

    def _hold(self, tid: bytes, span: Any, ordinal: int) -> None:
        index = bisect_right(self._starts, ordinal) - 1
        key = self._keys_now.get(index)
        if key is None:
            rs, ss = self._spans_of[index]
            ident = (rs.resource.SerializeToString(deterministic=True), rs.schema_url,
                     ss.scope.SerializeToString(deterministic=True), ss.schema_url)
            key = self._scope_keys.get(ident)
            if key is None:
                key = self._scope_keys[ident] = self._next_key
                self._next_key += 1
                self._scopes[key] = ident
            self._keys_now[index] = key
        entry = self._held.get(tid)
        if entry is None:
            entry = self._held[tid] = (self._clock(), [])
        data = span.SerializeToString()
        entry[1].append((key, data))
        self._undo_held.append(tid)
        self._held_count += 1
        self._held_bytes += len(data)
        while ((self._held_count > self.hold_spans or self._held_bytes > self.hold_bytes)
               and self._held):  # the oldest traces go
            self._let_go(next(iter(self._held)))

    def _let_go(self, tid: bytes) -> None:
        spans = self._held.pop(tid)[1]
        self._held_count -= len(spans)
        self._held_bytes -= _size(spans)
        self._given_up += len(spans)

    def _expire(self, now: float) -> None:
        horizon = now - self.decision_wait_s
        held = self._held
        while held:
            tid = next(iter(held))
            if held[tid][0] > horizon:
                break
            self._let_go(tid)
        kept = self._kept
        while kept:
            tid = next(iter(kept))
            if kept[tid] > horizon and len(kept) <= max(self.hold_spans, 10_000):
                break
            del kept[tid]
        if len(self._scope_keys) > self._compact_at:  # forget the scopes nothing holds
            used = {key for _, spans in held.values() for key, _ in spans}
            used.update(key for key, _ in self._release)
            for ident, key in list(self._scope_keys.items()):
                if key not in used:
                    del self._scope_keys[ident], self._scopes[key]
            self._compact_at = max(1_000, 2 * len(self._scope_keys))


def _size(spans: list[tuple[int, bytes]]) -> int:
    """The bytes of held spans."""
    return sum(len(data) for _, data in spans)
