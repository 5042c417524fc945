"""Filter and sample: drop spans by attribute; keep a share of the rest, but every error and
every slow trace.

The sampler decides by trace id (the same decision for every span of a trace, in any relay that
uses the same ratio).  A trace is kept whole when a span of it in the same request failed or
lasted at least ``slow_ms``: OTLP exporters send a trace's spans together as they end, so errors
and slow traces are kept across requests only as far as their spans arrive together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from axonize_collector.pipeline import DROP, Counts, Processor, Resource
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
    name = "sample"
    atomic = True

    def __init__(self, ratio: float, keep_errors: bool = True,
                 slow_ms: float | None = None) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sample ratio {ratio} is not between 0 and 1")
        self.bound = int(ratio * _BOUND)
        self.keep_errors = keep_errors
        self.slow_s = None if slow_ms is None else slow_ms / 1000.0
        self._keep: set[bytes] = set()

    def begin(self, req: Any, body: bytes | None) -> bool:
        if self.bound >= _BOUND:
            return False  # keeps everything
        keep = set()
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    if (self.keep_errors and is_error(span)) or (
                            self.slow_s is not None and duration_s(span) >= self.slow_s):
                        keep.add(bytes(span.trace_id))
        self._keep = keep
        return True

    def process(self, span: Any, resource: Resource, counts: Counts) -> str | None:
        tid = bytes(span.trace_id)
        if tid in self._keep:
            return None
        # The low 8 bytes, as OTel's TraceIdRatioBased reads them.
        return None if int.from_bytes(tid[8:16], "big") < self.bound else DROP

