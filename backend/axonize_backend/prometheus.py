"""The figures ``/metrics`` exposes, aggregated in memory as requests are ingested.

Trace requests are already parsed and walked span by span at ingest (:func:`~axonize_backend.otlp.
check_traces`); :meth:`PromMetrics.observe_traces` folds the GenAI spans of a checked request
into counters and histograms keyed by tenant, service, model and operation, and
:meth:`PromMetrics.observe_gpu` keeps the latest value of each GPU gauge.  A scrape only
formats what is in memory (no ClickHouse query), and counters are cumulative since the server
started, as Prometheus expects.

Label values come from the data, so each label is bounded: per tenant, at most
``label_limit`` distinct values of ``service``, ``model``, ``operation``, ``gpu_uuid`` and
``node``; later values are folded into ``other`` and counted in
``axonize_metrics_label_overflow_total``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from axonize_backend.otlp import GaugePoint
from axonize_core import semconv as sc
from axonize_core._metrics import DURATION_BUCKETS, TPOT_BUCKETS, TPS_BUCKETS, TTFT_BUCKETS
from axonize_core._prometheus import Exposition, Labels

OTHER = "other"
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Span attribute -> (slot, kind); the Axonize name first, the standard one as a fallback.
_OP, _MODEL, _TIN, _TOUT, _TTFT_MS, _TPOT_MS, _TPS, _COST, _GPU_S, _TTFC_S = range(10)
_WANTED: dict[str, int] = {
    sc.AI_OPERATION_NAME: _OP, sc.GEN_AI_OPERATION_NAME: _OP,
    sc.AI_MODEL_NAME: _MODEL, sc.GEN_AI_REQUEST_MODEL: _MODEL,
    sc.AI_LLM_TOKENS_INPUT: _TIN, sc.GEN_AI_USAGE_INPUT_TOKENS: _TIN,
    sc.AI_LLM_TOKENS_OUTPUT: _TOUT, sc.GEN_AI_USAGE_OUTPUT_TOKENS: _TOUT,
    sc.AI_LLM_TTFT_MS: _TTFT_MS, sc.AI_LLM_TPOT_MS: _TPOT_MS,
    sc.AI_LLM_TOKENS_PER_SECOND: _TPS, sc.COST_TOTAL_USD: _COST,
    sc.COST_GPU_SECONDS: _GPU_S, "gen_ai.response.time_to_first_chunk": _TTFC_S,
}
_TEXT_SLOTS = (_OP, _MODEL)

#: OTLP gauge -> (Prometheus name, factor to its base unit, kind)
GPU_GAUGES: dict[str, tuple[str, float, str]] = {
    sc.METRIC_GPU_UTILIZATION: ("axonize_gpu_utilization_ratio", 0.01, "gauge"),
    sc.METRIC_GPU_MEMORY_USED: ("axonize_gpu_memory_used_bytes", 1.0, "gauge"),
    sc.METRIC_GPU_MEMORY_TOTAL: ("axonize_gpu_memory_total_bytes", 1.0, "gauge"),
    sc.METRIC_GPU_POWER: ("axonize_gpu_power_watts", 1.0, "gauge"),
    sc.METRIC_GPU_TEMPERATURE: ("axonize_gpu_temperature_celsius", 1.0, "gauge"),
    sc.METRIC_GPU_ENERGY: ("axonize_gpu_energy_joules", 1.0, "counter"),
}


class Hist:
    __slots__ = ("counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0


class GenAiRow:
    """The figures of one (tenant, service, model, operation)."""

    __slots__ = ("cost", "duration", "errors", "gpu_seconds", "requests", "tokens_in",
                 "tokens_out", "tpot", "tps", "ttft")

    def __init__(self) -> None:
        self.requests = self.errors = self.tokens_in = self.tokens_out = 0
        self.cost = self.gpu_seconds = 0.0
        self.duration = Hist(DURATION_BUCKETS)
        self.ttft = Hist(TTFT_BUCKETS)
        self.tpot = Hist(TPOT_BUCKETS)
        self.tps = Hist(TPS_BUCKETS)


def _observe(h: Hist, bounds: tuple[float, ...], value: float) -> None:
    h.counts[bisect.bisect_left(bounds, value)] += 1
    h.sum += value


def _number(v: Any) -> float | None:
    kind = v.WhichOneof("value")
    if kind == "double_value":
        return float(v.double_value)
    if kind == "int_value":
        return float(v.int_value)
    if kind == "string_value":
        try:
            return float(v.string_value)
        except ValueError:
            return None
    return None


class LabelLimiter:
    """At most ``limit`` distinct values per (tenant, label); the rest become ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._seen: dict[tuple[str, str], set[str]] = {}
        self.overflow: dict[tuple[str, str], int] = {}

    def __call__(self, tenant: str, label: str, value: str) -> str:
        seen = self._seen.setdefault((tenant, label), set())
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        key = (tenant, label)
        self.overflow[key] = self.overflow.get(key, 0) + 1
        return OTHER


class PromMetrics:
    """Everything ``/metrics`` shows, updated at ingest (thread-safe)."""

    def __init__(self, label_limit: int = 100) -> None:
        self._lock = threading.Lock()
        self.limit = LabelLimiter(label_limit)
        self.genai: dict[tuple[str, str, str, str], GenAiRow] = {}
        self.gpus: dict[tuple[str, str, str, str], float] = {}  # (tenant, uuid, node, metric)
        self.ingest_requests = {"traces": 0, "metrics": 0}
        self.ingest_spans = 0
        self.ingest_gpu_points = 0
        self.rejected: dict[tuple[str, str], int] = {}  # (reason, transport) -> count
        self.api: dict[tuple[str, str, str], Hist] = {}  # (method, route, code)

    # ---------------------------------------------------------------- ingest
    def observe_traces(self, tenant: str, request: Any, accepted: int) -> None:
        """Fold the GenAI spans of a checked ``ExportTraceServiceRequest`` in."""
        found: list[tuple[str, list[Any], int, bool]] = []
        for rs in request.resource_spans:
            service = ""
            for kv in rs.resource.attributes:
                if kv.key == "service.name":
                    service = kv.value.string_value
                    break
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    slots: list[Any] = [None] * 10
                    hit = False
                    for kv in sp.attributes:
                        slot = _WANTED.get(kv.key)
                        if slot is None or slots[slot] is not None:
                            continue
                        hit = True
                        if slot in _TEXT_SLOTS:
                            slots[slot] = kv.value.string_value
                        else:
                            slots[slot] = _number(kv.value)
                    if not hit or not slots[_OP]:
                        continue
                    duration = max(0, sp.end_time_unix_nano - sp.start_time_unix_nano)
                    found.append((service, slots, duration, sp.status.code == 2))
        with self._lock:
            self.ingest_requests["traces"] += 1
            self.ingest_spans += accepted
            for service, slots, duration, error in found:
                self._add(tenant, service, slots, duration, error)

    def _add(self, tenant: str, service: str, s: list[Any], duration_ns: int,
             error: bool) -> None:
        limit = self.limit
        key = (tenant, limit(tenant, "service", service), limit(tenant, "model", s[_MODEL] or ""),
               limit(tenant, "operation", s[_OP]))
        row = self.genai.get(key)
        if row is None:
            row = self.genai[key] = GenAiRow()
        row.requests += 1
        row.errors += error
        duration_s = duration_ns / 1e9
        _observe(row.duration, DURATION_BUCKETS, duration_s)
        ttft = s[_TTFT_MS] / 1000 if s[_TTFT_MS] is not None else s[_TTFC_S]
        if ttft is not None and ttft >= 0:
            _observe(row.ttft, TTFT_BUCKETS, ttft)
        if s[_TPOT_MS] is not None and s[_TPOT_MS] >= 0:
            _observe(row.tpot, TPOT_BUCKETS, s[_TPOT_MS] / 1000)
        if s[_TIN] is not None and s[_TIN] > 0:
            row.tokens_in += int(s[_TIN])
        out = s[_TOUT]
        if out is not None and out > 0:
            row.tokens_out += int(out)
        tps = s[_TPS]
        if tps is None and out and duration_s > 0:
            tps = out / duration_s
        if tps is not None and tps > 0:
            _observe(row.tps, TPS_BUCKETS, tps)
        if s[_COST] is not None and s[_COST] > 0:
            row.cost += s[_COST]
        if s[_GPU_S] is not None and s[_GPU_S] > 0:
            row.gpu_seconds += s[_GPU_S]

    def observe_gpu(self, tenant: str, points: Iterable[GaugePoint], stored: int) -> None:
        """Keep the latest value of each GPU gauge (the newest point of the request wins)."""
        with self._lock:
            self.ingest_requests["metrics"] += 1
            self.ingest_gpu_points += stored
            latest: dict[tuple[str, str, str, str], tuple[int, float]] = {}
            for p in points:
                spec = GPU_GAUGES.get(p.metric)
                if spec is None:
                    continue
                key = (tenant, self.limit(tenant, "gpu_uuid", p.gpu_uuid),
                       self.limit(tenant, "node", p.node), p.metric)
                if key not in latest or latest[key][0] <= p.time_ns:
                    latest[key] = (p.time_ns, p.value * spec[1])
            for key, (_, value) in latest.items():
                self.gpus[key] = value

    def rejected_request(self, reason: str, transport: str) -> None:
        with self._lock:
            key = (reason, transport)
            self.rejected[key] = self.rejected.get(key, 0) + 1

    def api_latency(self, method: str, route: str, code: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(code))
            h = self.api.get(key)
            if h is None:
                h = self.api[key] = Hist(API_BUCKETS)
            _observe(h, API_BUCKETS, seconds)

    # ---------------------------------------------------------------- scrape
    def render(self, out: Exposition, tenant: str | None, server: Mapping[str, float]) -> None:
        """Write the series ``tenant`` may see (all, and the server's own, for ``None``)."""
        with self._lock:
            gpus = [(k, v) for k, v in self.gpus.items() if tenant is None or k[0] == tenant]
            overflow = [(k, v) for k, v in self.limit.overflow.items()
                        if tenant is None or k[0] == tenant]
            snapshot = [(k, r, _copy(r)) for k, r in self.genai.items()
                        if tenant is None or k[0] == tenant]
            rejected = dict(self.rejected)
            api = [(k, list(h.counts), h.sum) for k, h in self.api.items()]
            ingest = (dict(self.ingest_requests), self.ingest_spans, self.ingest_gpu_points)
        snapshot.sort(key=lambda t: t[0])

        def lab(k: tuple[str, str, str, str]) -> Labels:
            return (("tenant", k[0]), ("service", k[1]), ("model", k[2]), ("operation", k[3]))

        out.scalar("axonize_gen_ai_requests", "counter",
                   [(lab(k), c.requests) for k, _, c in snapshot])
        out.scalar("axonize_gen_ai_errors", "counter",
                   [(lab(k), c.errors) for k, _, c in snapshot])
        for name, attr, bounds in (
            ("axonize_gen_ai_operation_duration_seconds", "duration", DURATION_BUCKETS),
            ("axonize_gen_ai_time_to_first_token_seconds", "ttft", TTFT_BUCKETS),
            ("axonize_gen_ai_time_per_output_token_seconds", "tpot", TPOT_BUCKETS),
            ("axonize_gen_ai_output_tokens_per_second", "tps", TPS_BUCKETS),
        ):
            hists = [(lab(k), getattr(c, attr)) for k, _, c in snapshot]
            out.histogram(name, bounds, [(lb, h.counts, h.sum) for lb, h in hists
                                         if any(h.counts)])
        out.scalar("axonize_gen_ai_tokens", "counter",
                   [s for k, _, c in snapshot for s in (
                       ((*lab(k), ("token_type", "input")), c.tokens_in),
                       ((*lab(k), ("token_type", "output")), c.tokens_out))])
        out.scalar("axonize_gen_ai_cost_usd", "counter",
                   [(lab(k), c.cost) for k, _, c in snapshot])
        out.scalar("axonize_gen_ai_gpu_seconds", "counter",
                   [(lab(k), c.gpu_seconds) for k, _, c in snapshot])
        for metric, (name, _, kind) in GPU_GAUGES.items():
            out.scalar(name, kind, sorted(
                ((("tenant", k[0]), ("gpu_uuid", k[1]), ("node", k[2])), v)
                for k, v in gpus if k[3] == metric))
        out.scalar("axonize_metrics_label_overflow", "counter", sorted(
            ((("tenant", k[0]), ("label", k[1])), v) for k, v in overflow))
        if tenant is not None:
            return
        requests, spans, points = ingest
        out.scalar("axonize_server_ingest_requests", "counter",
                   [((("signal", s),), n) for s, n in sorted(requests.items())])
        out.scalar("axonize_server_ingest_spans", "counter", [((), spans)])
        out.scalar("axonize_server_ingest_gpu_points", "counter", [((), points)])
        out.scalar("axonize_server_refused_spans", "counter",
                   [((), server.get("refused_spans", 0))])
        out.scalar("axonize_server_ingest_log_backlog_bytes", "gauge",
                   [((), server.get("backlog_bytes", 0))])
        out.scalar("axonize_server_ingest_quarantined_requests", "gauge",
                   [((), server.get("quarantined", 0))])
        out.scalar("axonize_server_rejected_requests", "counter", sorted(
            ((("reason", r), ("transport", t)), n) for (r, t), n in rejected.items()))
        out.histogram("axonize_server_http_request_duration_seconds", API_BUCKETS, sorted(
            ((("method", m), ("route", r), ("code", c)), counts, total)
            for (m, r, c), counts, total in api))


def _copy(r: GenAiRow) -> GenAiRow:
    c = GenAiRow.__new__(GenAiRow)
    c.requests, c.errors = r.requests, r.errors
    c.tokens_in, c.tokens_out = r.tokens_in, r.tokens_out
    c.cost, c.gpu_seconds = r.cost, r.gpu_seconds
    for attr in ("duration", "ttft", "tpot", "tps"):
        h = getattr(r, attr)
        copy = Hist.__new__(Hist)
        copy.counts, copy.sum = list(h.counts), h.sum
        setattr(c, attr, copy)
    return c
