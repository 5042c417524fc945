"""The machinery of :mod:`axonize.testing`: an in-memory exporter, a capture of what Axonize
exports, a deterministic clock and ids, and finished spans as plain dicts.

Spans reach the capture exactly as they reach a collector: encoded by the exporter thread into
OTLP bytes and decoded here with the official ``opentelemetry-proto`` classes, so the dicts hold
every attribute a backend would see (derived ``ai.*`` / ``gen_ai.*`` names included).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import pprint
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from axonize_core import _runtime, _span, _state, streams
from axonize_core._log import STRICT
from axonize_core._span import SpanKind, SpanStatus

#: Where Axonize reads the time (``fn() -> int`` ns) and random ids (``fn(bits) -> int``):
#: ``deterministic_ids_and_clock()`` replaces exactly these module globals.
CLOCK_SITES: tuple[tuple[Any, str], ...] = ((_span, "_time_ns"), (streams, "_time_ns"))
ID_SITES: tuple[tuple[Any, str], ...] = ((_span, "_getrandbits"),)

#: The deterministic clock: its first reading, and how far every reading advances it.
CLOCK_START_NS = 1_000_000_000
CLOCK_STEP_NS = 1_000_000


class _AnyNumber:
    """Equal to any int or float (not bool): a placeholder for figures that vary per run."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (int, float)) and not isinstance(other, bool)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY_NUMBER"


ANY_NUMBER: Any = _AnyNumber()


# ----------------------------------------------------------------------------- determinism
@contextmanager
def deterministic_ids_and_clock() -> Iterator[None]:
    """Ids and clock that repeat from run to run, until the block ends.

    Trace ids and span ids count up from 1 (separately); the clock starts at
    :data:`CLOCK_START_NS` and every reading advances it by :data:`CLOCK_STEP_NS` (1 ms), so a
    span's duration, TTFT and tokens/s depend only on what the code did, not on how fast.
    """
    counters: dict[int, Iterator[int]] = {}

    def getrandbits(bits: int) -> int:
        counter = counters.get(bits)
        if counter is None:
            counter = counters.setdefault(bits, itertools.count(1))
        return next(counter)

    clock = functools.partial(next, itertools.count(CLOCK_START_NS, CLOCK_STEP_NS))
    with ExitStack() as stack:
        for module, name in CLOCK_SITES:
            stack.callback(setattr, module, name, getattr(module, name))
            setattr(module, name, clock)
        for module, name in ID_SITES:
            stack.callback(setattr, module, name, getattr(module, name))
            setattr(module, name, getrandbits)
        yield


# ----------------------------------------------------------------------------- exporter
class InMemoryExporter:
    """An :class:`~axonize_core._otlp.exporters.Exporter` that keeps every payload it gets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.trace_payloads: list[bytes] = []
        self.metric_payloads: list[bytes] = []

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        with self._lock:
            self.trace_payloads.append(payload)
        return True

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        with self._lock:
            self.metric_payloads.append(payload)
        return True

    def shutdown(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.trace_payloads.clear()
            self.metric_payloads.clear()

    def trace_requests(self) -> list[Any]:
        """Every ``ExportTraceServiceRequest`` received, decoded, in order."""
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

        with self._lock:
            payloads = list(self.trace_payloads)
        return [ts.ExportTraceServiceRequest.FromString(p) for p in payloads]

    def metric_requests(self) -> list[Any]:
        """Every ``ExportMetricsServiceRequest`` received, decoded, in order."""
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

        with self._lock:
            payloads = list(self.metric_payloads)
        return [ms.ExportMetricsServiceRequest.FromString(p) for p in payloads]


# ----------------------------------------------------------------------------- capture
class Capture:
    """What Axonize exported while the capture ran (read it any time, also afterwards)."""

    def __init__(self, exporter: InMemoryExporter, is_deterministic: bool) -> None:
        self.exporter = exporter
        self.deterministic = is_deterministic
        self.active = True

    def flush(self, timeout: float = 10.0) -> None:
        """Export every span finished so far; returns once the exporter has them."""
        if self.active and not _runtime.flush(timeout):
            raise AssertionError(f"axonize.testing: the flush did not finish in {timeout} s")

    def clear(self) -> None:
        """Forget what was captured so far (after exporting what is finished)."""
        self.flush()
        self.exporter.clear()

    def spans(self) -> list[Any]:
        """The finished spans as exported (OTLP ``Span`` messages), in export order."""
        self.flush()
        return [s for r in self.exporter.trace_requests() for rs in r.resource_spans
                for ss in rs.scope_spans for s in ss.spans]

    def spans_as_dicts(self) -> list[dict[str, Any]]:
        """The finished spans as plain dicts, in the order they started (docs/testing.md).

        Ids become small numbers in order of first appearance (trace 1, 2, ...; span 1, 2,
        ...); ``start_time``/``end_time`` and event times are there only when deterministic.
        """
        spans = sorted(self.spans(), key=lambda s: s.start_time_unix_nano)
        traces: dict[bytes, int] = {}
        ids: dict[bytes, int] = {}
        for s in spans:
            ids.setdefault(s.span_id, len(ids) + 1)
        return [span_dict(s, traces, ids, self.deterministic) for s in spans]

    def resource(self) -> dict[str, Any]:
        """The resource attributes of the latest export (``service.name``, ...)."""
        self.flush()
        resources = [rs.resource for r in self.exporter.trace_requests() for rs in r.resource_spans]
        resources += [rm.resource for r in self.exporter.metric_requests()
                      for rm in r.resource_metrics]
        return attributes(resources[-1].attributes) if resources else {}

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """The latest value of each exported metric: name -> data points as dicts.

        A histogram point is ``{"attributes", "count", "sum", "min", "max"}``; a sum or gauge
        point is ``{"attributes", "value"}``.  Metrics are cumulative, so the latest export
        holds everything.
        """
        self.flush()
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.exporter.metric_requests():
            for rm in r.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        out[m.name] = metric_points(m)
        return out


@contextmanager
def capture(*, deterministic: bool = True, **settings: Any) -> Iterator[Capture]:
    """``axonize.init`` with an in-memory exporter for the duration of the block.

    ``settings`` are ``axonize.init``'s (over the environment, as there); by default the capture
    is enabled, samples everything and profiles no GPU.  ``deterministic``: ids and clock of
    :func:`deterministic_ids_and_clock`.  Whatever was initialized before the block (its
    exporter thread keeps running, idle) is put back afterwards.  Should the code under test call
    ``axonize.init`` itself, its settings apply and its spans still come here.
    """
    exporter = InMemoryExporter()
    options = {"disabled": False, "sample_rate": 1.0, "gpu_profiling": False, **settings}
    with ExitStack() as stack:
        stack.enter_context(_pipeline_set_aside())
        if deterministic:
            stack.enter_context(deterministic_ids_and_clock())
        _runtime.init(exporter=exporter, **options)
        cap = Capture(exporter, deterministic)

        def keep_capturing(cfg: Any, proc: Any) -> None:  # after an init of the code under test
            replaced, proc.exporter = proc.exporter, exporter
            proc._exporter_given = True
            replaced.shutdown()

        _state.RUNTIME.init_hooks.append(keep_capturing)
        stack.callback(_state.RUNTIME.init_hooks.remove, keep_capturing)
        try:
            yield cap
        finally:
            cap.active = False
            _runtime.shutdown(timeout=10)  # exports what is still buffered


@contextmanager
def _pipeline_set_aside() -> Iterator[None]:
    """Detach the running pipeline (without stopping it) and reattach it on exit."""
    state, pipeline, enrich = _state.RUNTIME, _state.PIPELINE, _state.ENRICH
    saved = (state.config, state.processor, pipeline.sink, pipeline.sample_bound, pipeline.fast,
             _state.RECORDING.on, enrich.gpu, enrich.prices, enrich.genai_latest)
    state.processor = None  # so that init does not shut it down
    enrich.gpu = None  # nor the capture's shutdown its GPU profiler
    try:
        yield
    finally:
        (state.config, state.processor, sink, pipeline.sample_bound, fast, on, enrich.gpu,
         enrich.prices, enrich.genai_latest) = saved
        pipeline.set_sink(sink)
        pipeline.fast = fast
        _state.RECORDING.on = on


@contextmanager
def lenient() -> Iterator[None]:
    """Strict mode off for the block: Axonize swallows its errors as in production."""
    on, STRICT.on = STRICT.on, False
    try:
        yield
    finally:
        STRICT.on = on


def strict_errors() -> list[str]:
    """What strict mode recorded since the last call (empty when strict mode is off)."""
    return STRICT.drain()


# ----------------------------------------------------------------------------- OTLP -> dicts
def any_value(v: Any) -> Any:
    """An OTLP ``AnyValue`` as the plain Python value (arrays as lists, kvlists as dicts)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    """Repeated OTLP ``KeyValue`` as a dict, sorted by key."""
    return {kv.key: any_value(kv.value) for kv in sorted(kvs, key=lambda kv: kv.key)}


def _number(ids: dict[bytes, int], key: bytes) -> int | None:
    if not key:
        return None
    return ids.setdefault(key, len(ids) + 1)


def span_dict(s: Any, traces: dict[bytes, int], ids: dict[bytes, int],
              with_times: bool) -> dict[str, Any]:
    """One OTLP span as a dict (``traces``/``ids``: the numbering shared by a capture)."""
    out: dict[str, Any] = {
        "name": s.name,
        "kind": _enum_name(SpanKind, s.kind, "UNSPECIFIED"),
        "trace_id": _number(traces, s.trace_id),
        "span_id": _number(ids, s.span_id),
        "parent_span_id": _number(ids, s.parent_span_id),
    }
    if with_times:
        out["start_time"] = s.start_time_unix_nano
        out["end_time"] = s.end_time_unix_nano
    out["attributes"] = attributes(s.attributes)
    out["status"] = {"code": _enum_name(SpanStatus, s.status.code, "UNSET"),
                     "message": s.status.message}
    out["events"] = [_event_dict(e, with_times) for e in s.events]
    return out


def _event_dict(e: Any, with_time: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": e.name}
    if with_time:
        out["time"] = e.time_unix_nano
    attrs = attributes(e.attributes)
    trace = attrs.get("exception.stacktrace")
    if isinstance(trace, str):  # file paths and line numbers: only its last line is stable
        attrs["exception.stacktrace"] = trace.rstrip().rsplit("\n", 1)[-1]
    out["attributes"] = attrs
    return out


def _enum_name(enum: Callable[[int], Any], value: int, fallback: str) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return fallback


def metric_points(m: Any) -> list[dict[str, Any]]:
    kind = m.WhichOneof("data")
    points: list[dict[str, Any]] = []
    for p in getattr(m, kind).data_points if kind else ():
        point: dict[str, Any] = {"attributes": attributes(p.attributes)}
        if kind in ("histogram", "exponential_histogram"):
            point.update(count=p.count, sum=p.sum, min=p.min, max=p.max)
        else:
            point["value"] = getattr(p, p.WhichOneof("value"))
        points.append(point)
    return points


# ----------------------------------------------------------------------------- diffs
def is_span_dicts(value: Any) -> bool:
    """A span dict (``name`` and ``attributes``), or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, dict) and is_span_dicts(v) for v in value)
    return isinstance(value, dict) and "name" in value and "attributes" in value


def _align(value: Any, other: Any) -> Any:
    """``value`` with every part that equals its counterpart in ``other`` (a matcher such as
    ``ANY_NUMBER``, a ``pytest.approx``) replaced by that counterpart: diffs show real changes."""
    if value == other:
        return other
    if isinstance(value, dict) and isinstance(other, dict):
        return {k: _align(v, other[k]) if k in other else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(other, list):
        return [_align(v, o) for v, o in zip(value, other, strict=False)] + value[len(other):]
    return value


def span_diff(left: Any, right: Any) -> list[str]:
    """A readable unified diff of two span dicts (or lists of them), keys sorted."""
    a = pprint.pformat(left, width=96, sort_dicts=True).splitlines()
    b = pprint.pformat(_align(right, left), width=96, sort_dicts=True).splitlines()
    lines = list(difflib.unified_diff(a, b, "left", "right", n=3, lineterm=""))
    return ["span dicts differ (keys sorted; - left, + right):", *lines[2:]]
