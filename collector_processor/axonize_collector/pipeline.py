"""Processors and the pipeline that runs them over the spans of OTLP trace requests.

A processor does one job on one span at a time (:meth:`Processor.process`) and says what becomes
of it: kept (``None``), dropped (:data:`DROP`) or sent to a named route (any other string, e.g.
the policy processor's quarantine endpoint).  The :class:`Pipeline` runs them in order; a
processor that raises on a span leaves that span as it was before the processor ran (its
attributes restored, the span kept) and the failure is counted, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.trace.v1 import trace_pb2

from axonize_collector.splice import append_attributes, encode_attribute
from axonize_collector.wire import span_ranges
from axonize_core.otlp_wire import attributes, span_count

log = logging.getLogger("axonize.collector")

DROP = "drop"
#: Taken out of the request by a processor that holds it and may send it out later (see
#: :meth:`Processor.released`); counted as dropped only once the processor gives it up.
HOLD = "hold"
#: The route of the spans that are kept and not routed elsewhere.
MAIN = ""


class Resource:
    """The resource of the spans being processed; its attributes are decoded on first use."""

    __slots__ = ("_attrs", "message")

    def __init__(self, message: Any) -> None:
        self.message = message
        self._attrs: dict[str, Any] | None = None

    @property
    def attributes(self) -> dict[str, Any]:
        if self._attrs is None:
            self._attrs = attributes(self.message.attributes)
        return self._attrs


class Processor:
    """One job on one span.  Subclasses set :attr:`name` and override :meth:`process`.

    :attr:`atomic` says that the processor changes a span only after everything that could
    raise has run, so the pipeline need not copy the span first; leave it false (the default)
    for a processor that may raise half-way through its changes.
    """

    name = "processor"
    atomic = False
    #: False for a processor that never drops or routes a span (only changes it).
    verdicts = True
    #: True for a processor that keeps state across requests (a budget's spend, the sampler's
    #: held traces): the relay then runs every processor in its own process, not in workers.
    stateful = False

    def begin(self, req: Any, body: bytes | None) -> bool | frozenset[int]:
        """Called once per request, with its protobuf body if there is one.  False skips this
        processor for the whole request, a set of span ordinals (the spans' positions in the
        request, flattened) limits it to those spans: fast paths, where the body shows that
        there is nothing to do, or where."""
        return True

    def process(self, span: Any, resource: Resource, counts: Counts) -> str | None:
        raise NotImplementedError

    def spliced(self) -> dict[int, dict[str, Any]] | None:
        """After :meth:`begin` returned a set of spans: the attributes this processor would add
        to each of them and nothing else (no change, no verdict), for the pipeline to splice
        into the encoded request; None (the default) if it must see the decoded spans."""
        return None

    def spliced_encoded(self) -> dict[int, bytes] | None:
        """:meth:`spliced`, each span's attributes encoded (span attributes, field 9, one
        after the other): override to encode them faster."""
        added = self.spliced()
        if added is None:
            return None
        return {at: b"".join(encode_attribute(k, v) for k, v in attrs.items())
                for at, attrs in added.items()}

    def released(self) -> tuple[Any | None, int]:
        """After a request's spans were processed: the spans held (:data:`HOLD`) from earlier
        requests that now go out with this one, already processed (an
        ``ExportTraceServiceRequest``, or None), and how many held spans were given up for
        good since the last call (counted as dropped)."""
        return None, 0

    def rollback(self) -> None:
        """The output of the request just processed was not taken and its sender will send it
        again: undo what would otherwise count twice (the sampler holds its spans again)."""

    def close(self) -> None:
        """Release what the processor holds (a budget persists its state here)."""


@dataclass
class Counts:
    """What the pipeline did, cumulative; read by the relay's metrics endpoint."""

    spans_in: int = 0
    spans_out: int = 0
    masked: int = 0
    dropped: int = 0
    routed: int = 0
    failed: int = 0
    failed_by: dict[str, int] = field(default_factory=dict)
    #: While a request is processed: the position of the current span in it (flattened).
    at: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, other: Counts) -> None:
        with self.lock:
            self.spans_in += other.spans_in
            self.spans_out += other.spans_out
            self.masked += other.masked
            self.dropped += other.dropped
            self.routed += other.routed
            self.failed += other.failed
            for k, v in other.failed_by.items():
                self.failed_by[k] = self.failed_by.get(k, 0) + v

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"spans_in": self.spans_in, "spans_out": self.spans_out,
                    "masked": self.masked, "dropped": self.dropped, "routed": self.routed,
                    "failed": self.failed, "failed_by": dict(self.failed_by)}


class Pipeline:
    """Processors run in order over every span of a request."""

    def __init__(self, processors: Sequence[Processor]) -> None:
        self.processors = list(processors)
        self.counts = Counts()
        # One request at a time: processors may keep per-request state (the sampler's kept
        # traces), and under the GIL running two at once would gain nothing.  Reentrant: a
        # caller may hold it across processing and storing the output (:meth:`exclusive`).
        self._lock = threading.RLock()

    def exclusive(self) -> threading.RLock:
        """Hold it (``with``) to process a request and store its output with no other request
        processed in between, so that :meth:`rollback` undoes that request."""
        return self._lock

    def rollback(self) -> None:
        """Call with :meth:`exclusive` held when the output of the request just processed was
        not taken: its sender will send it again."""
        with self._lock:
            for p in self.processors:
                try:
                    p.rollback()
                except Exception:
                    log.exception("processor %s failed to roll back", p.name)

    def run(self, req: Any, body: bytes | None = None) -> dict[str, Any]:
        """Process ``req`` (an ``ExportTraceServiceRequest``) in place; returns the requests to
        send by route (:data:`MAIN` for the kept spans; routes with no span are left out)."""
        with self._lock:
            return self._run(req, body)

    def run_encoded(self, req: Any, body: bytes | None) -> dict[str, tuple[bytes, int]]:
        """As :meth:`run`, with each route's request encoded, and its span count.  When the only
        change is attributes added to spans (the cost processor's, with nothing to mask), they
        are spliced into ``body`` without touching the decoded spans: the fast path of the
        relay, which forwards what it received plus what the processors added."""
        with self._lock:
            begun = [(p, _begin(p, req, body)) for p in self.processors]
            if body is not None:
                spliced = self._splice(begun, req, body)
                if spliced is not None:
                    return spliced
            out = self._visit(begun, req)
        return {route: (r.SerializeToString(), span_count(r)) for route, r in out.items()}

    def _splice(self, begun: list[tuple[Processor, bool | frozenset[int]]], req: Any,
                body: bytes) -> dict[str, tuple[bytes, int]] | None:
        """The encoded request with the spliceable processors' attributes added, and the spans
        that others must see decoded (processors that never drop or route: redaction) replaced
        by their processed encoding; None when the spans must all be visited."""
        extra: dict[int, bytes] = {}
        visit: set[int] = set()
        for p, which in begun:
            if which is False or (isinstance(which, frozenset) and not which):
                continue
            added = p.spliced_encoded() if isinstance(which, frozenset) else None
            if added is not None:
                if not extra:
                    extra = added
                else:
                    for at, data in added.items():
                        extra[at] = extra.get(at, b"") + data
                continue
            if which is True or p.verdicts:
                return None
            visit |= which
        try:
            total = len(span_ranges(body))
        except ValueError:
            return None
        counts = Counts(spans_in=total, spans_out=total)
        replace: dict[int, bytes] = {}
        if visit:
            base = 0  # the ordinal of the scope's first span
            for rs in req.resource_spans:
                resource = Resource(rs.resource)
                for ss in rs.scope_spans:
                    spans = ss.spans
                    n = len(spans)
                    for ordinal in sorted(k for k in visit if base <= k < base + n):
                        span = spans[ordinal - base]
                        counts.at = ordinal
                        active = [p for p, which in begun if which is True or (
                            isinstance(which, frozenset) and ordinal in which)]
                        self._one(active, span, resource, counts)  # no verdicts here
                        replace[ordinal] = span.SerializeToString()
                        extra.pop(ordinal, None)  # added by the visit itself
                    base += n
        try:
            encoded = append_attributes(body, extra, replace) if extra or replace else body
        except (ValueError, TypeError, IndexError):
            return None
        self.counts.add(counts)
        return {MAIN: (encoded, total)} if total else {}

    def _run(self, req: Any, body: bytes | None) -> dict[str, Any]:
        return self._visit([(p, _begin(p, req, body)) for p in self.processors], req)

    def _visit(self, begun: list[tuple[Processor, bool | frozenset[int]]],
               req: Any) -> dict[str, Any]:
        every = [p for p, which in begun if which is True]
        some = any(isinstance(which, frozenset) and which for _, which in begun)
        counts = Counts()
        routed: dict[str, Any] = {}
        # With no processor for every span, only the spans some processor asked for are visited.
        wanted = None if every else frozenset().union(
            *(which for _, which in begun if isinstance(which, frozenset)))
        base = 0
        for rs in req.resource_spans:
            resource = Resource(rs.resource)
            for ss in rs.scope_spans:
                moves: list[tuple[int, str]] = []
                spans = ss.spans
                n = len(spans)
                counts.spans_in += n
                if wanted is None:
                    visit: Any = range(n)
                else:
                    visit = sorted(k - base for k in wanted if base <= k < base + n)
                for i in visit:
                    ordinal = counts.at = base + i
                    active = every if not some else [
                        p for p, which in begun
                        if which is True or (isinstance(which, frozenset) and ordinal in which)]
                    verdict = self._one(active, spans[i], resource, counts)
                    if verdict is not None:
                        moves.append((i, verdict))
                base += n
                for i, verdict in reversed(moves):
                    if verdict == DROP:
                        counts.dropped += 1
                    elif verdict == HOLD:
                        pass  # the processor holds a copy: out later, or dropped then
                    else:
                        counts.routed += 1
                        _scope_in(routed, verdict, rs, ss).spans.add().CopyFrom(ss.spans[i])
                    del ss.spans[i]
                counts.spans_out += len(ss.spans)
        for p, which in begun:
            if which is False:
                continue
            try:
                late, given_up = p.released()
            except Exception:
                log.exception("processor %s failed to release held spans", p.name)
                late, given_up = None, 0
            counts.dropped += given_up
            if late is not None and late.resource_spans:
                counts.spans_out += span_count(late)
                req.resource_spans.extend(late.resource_spans)
        self.counts.add(counts)
        out = {MAIN: req} if counts.spans_out else {}
        out.update(routed)
        return out

    def _one(self, active: list[Processor], span: Any, resource: Resource,
             counts: Counts) -> str | None:
        for p in active:
            saved = None if p.atomic else span.SerializeToString()
            try:
                verdict = p.process(span, resource, counts)
            except Exception as exc:
                counts.failed += 1
                counts.failed_by[p.name] = counts.failed_by.get(p.name, 0) + 1
                log.debug("processor %s failed on a span: %r", p.name, exc)
                if saved is not None:
                    span.Clear()
                    span.MergeFromString(saved)
                continue
            if verdict is not None:
                return verdict
        return None

    def close(self) -> None:
        for p in self.processors:
            try:
                p.close()
            except Exception:
                log.exception("closing processor %s", p.name)


def _begin(p: Processor, req: Any, body: bytes | None) -> bool | frozenset[int]:
    try:
        return p.begin(req, body)
    except Exception:
        log.exception("processor %s failed to begin a request", p.name)
        return True


def _scope_in(routed: dict[str, Any], route: str, rs: Any, ss: Any) -> Any:
    """The scope-spans of the routed request ``route`` matching ``rs``/``ss`` (made once)."""
    req = routed.get(route)
    if req is None:
        req = routed[route] = ts.ExportTraceServiceRequest()
    last = req.resource_spans[-1] if req.resource_spans else None
    if last is None or last.resource != rs.resource or last.schema_url != rs.schema_url:
        last = req.resource_spans.add(schema_url=rs.schema_url)
        last.resource.CopyFrom(rs.resource)
    scope = last.scope_spans[-1] if last.scope_spans else None
    if scope is None or scope.scope != ss.scope:
        scope = last.scope_spans.add(schema_url=ss.schema_url)
        scope.scope.CopyFrom(ss.scope)
    return scope


def new_span() -> Any:
    """An empty OTLP span (for processors and tests)."""
    return trace_pb2.Span()
