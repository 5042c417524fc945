"""``/api/v1/traces``: the tenant's traces, newest first, and one trace as a span tree."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter

from axonize_backend.api.auth import provide_reader
from axonize_backend.api.params import (
    TimeRange,
    attribute_filter,
    decode_cursor,
    encode_cursor,
    last_day,
)
from axonize_backend.api.problems import BadRequestProblem, NotFoundProblem
from axonize_backend.render import optional_number, span_attributes, stored_events
from axonize_backend.service import Backend
from axonize_backend.spans import TraceQuery

HEX = frozenset("0123456789abcdef")


class TraceSummary(msgspec.Struct):
    trace_id: str
    start_time_unix_nano: int
    duration_ms: float
    span_count: int
    error_count: int
    root_name: str
    service: str
    model: str | None
    operation: str | None
    output_tokens: int
    cost_usd: float
    input_tokens: int = 0
    ttft_ms: float | None = None  # the trace's first time to first token, if any span has one


class TracePage(msgspec.Struct):
    traces: list[TraceSummary]
    next_cursor: str | None


class SpanNode(msgspec.Struct):
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    service: str
    start_time_unix_nano: int
    duration_ms: float
    status_code: int
    status_message: str
    attributes: dict[str, str]
    events: list[dict[str, Any]]
    children: list[SpanNode]


class TraceDetail(msgspec.Struct):
    trace_id: str
    span_count: int
    roots: list[SpanNode]


class TraceController(Controller):
    path = "/api/v1/traces"
    tags = ["traces"]
    dependencies = {
        "tenant": Provide(provide_reader, sync_to_thread=True),
        "window": Provide(last_day, sync_to_thread=False),
    }

    @get("/", sync_to_thread=True)
    def list_traces(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        window: NamedDependency[TimeRange],
        service: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
        operation: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(ok|error)$")] = None,
        min_duration_ms: Annotated[float | None, QueryParameter(ge=0)] = None,
        max_duration_ms: Annotated[float | None, QueryParameter(ge=0)] = None,
        attribute: Annotated[str | None, QueryParameter(description="key=value")] = None,
        gpu: Annotated[str | None, QueryParameter(description="a GPU uuid a span ran on")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> TracePage:
        """Traces, newest first, filtered; ``next_cursor`` continues the listing."""
        q = TraceQuery(
            tenant,
            window.since_ns,
            window.until_ns,
            service,
            model,
            operation,
            status,
            min_duration_ms,
            max_duration_ms,
            attribute_filter(attribute) if attribute is not None else None,
            limit + 1,
            decode_cursor(cursor) if cursor else None,
            gpu=gpu,
        )
        rows = backend.spans.list_traces(q)
        traces = [summary(r) for r in rows[:limit]]
        more = len(rows) > limit
        nxt = (
            encode_cursor(traces[-1].start_time_unix_nano, traces[-1].trace_id)
            if (more and traces)
            else None
        )
        return TracePage(traces, nxt)

    @get("/{trace_id:str}", sync_to_thread=True)
    def get_trace(
        self,
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
        trace_id: FromPath[str],
    ) -> TraceDetail:
        """Every span of one trace, as a tree."""
        tid = trace_id.lower()
        if len(tid) != 32 or any(c not in HEX for c in tid):
            raise BadRequestProblem("trace id must be 32 hex characters")
        rows = backend.spans.trace_spans(tenant, tid)
        if not rows:
            raise NotFoundProblem(f"no trace {tid}")
        return TraceDetail(tid, len(rows), tree(rows))


def summary(r: dict[str, Any]) -> TraceSummary:
    """A listed trace from its row of :meth:`~axonize_backend.spans.SpanStore.list_traces`."""
    return TraceSummary(
        r["trace_id"],
        int(r["start_ns"]),
        int(r["duration_ns"]) / 1e6,
        int(r["span_count"]),
        int(r["errors"]),
        r["root_name"],
        r["root_service"],
        r["any_model"] or None,
        r["any_operation"] or None,
        int(r["output_tokens"]),
        float(r["cost"]),
        int(r["input_tokens"]),
        optional_number(r["first_ttft_ms"]),
    )


def tree(rows: list[dict[str, Any]]) -> list[SpanNode]:
    """Spans (rows of :meth:`~axonize_backend.spans.SpanStore.trace_spans`) as trees: the
    roots, each with its children.  A span whose parent has not arrived is a root."""
    nodes: dict[str, SpanNode] = {}
    for r in rows:
        nodes[r["span_hex"]] = SpanNode(
            r["span_hex"],
            r["parent_hex"] or None,
            r["name"],
            int(r["kind"]),
            r["service"],
            int(r["start_ns"]),
            int(r["duration_ns"]) / 1e6,
            int(r["status_code"]),
            r["status_message"],
            span_attributes(r),
            stored_events(r["events"]),
            [],
        )
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_span_id or "")
        if parent is None:
            roots.append(node)
        else:
            parent.children.append(node)
    return roots
