"""The figures ``/metrics`` exposes, and where each comes from.

GenAI figures (per tenant, service, model and operation) are kept by ClickHouse: a
materialized view (``migrations/clickhouse/0005_prometheus_totals.sql``) folds each loaded span
into cumulative counters and histogram buckets, so the ingest path does no extra work per span
(walking the attributes in Python at ingest cost 4x what checking a request costs; measured, see
docs/backend.md) and a scrape reads one row per label set kept (:func:`genai_sql`).  GPU gauges
(the latest value of each, few points per request) and the server's own counters are kept in
memory as they happen (:class:`PromMetrics`).

Label values come from the data, so each label is bounded: per tenant, at most
``label_limit`` distinct values of ``service``, ``model``, ``operation``, ``gpu_uuid`` and
``node``, the first seen kept (ranked in the query for the GenAI labels, as points arrive for
the GPU ones); the rest are folded into ``other`` and what was folded is counted in
``axonize_metrics_label_overflow_total``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from axonize_backend.otlp import GaugePoint
from axonize_core import semconv as sc
from axonize_core._metrics import DURATION_BUCKETS, TPOT_BUCKETS, TPS_BUCKETS, TTFT_BUCKETS
from axonize_core._prometheus import Exposition, Labels

OTHER = "other"
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GENAI_LABELS = ("service", "model", "operation")
#: Histogram -> (its columns' prefix in ``prometheus_totals``, bucket bounds)
HISTOGRAMS = {
    "axonize_gen_ai_operation_duration_seconds": ("duration", DURATION_BUCKETS),
    "axonize_gen_ai_time_to_first_token_seconds": ("ttft", TTFT_BUCKETS),
    "axonize_gen_ai_time_per_output_token_seconds": ("tpot", TPOT_BUCKETS),
    "axonize_gen_ai_output_tokens_per_second": ("tps", TPS_BUCKETS),
}
_SUMS = ("requests", "errors", "tokens_input", "tokens_output", "cost_usd", "gpu_seconds",
         "duration_sum", "ttft_count", "ttft_sum", "tpot_count", "tpot_sum", "tps_count",
         "tps_sum")
_ARRAYS = ("duration_le", "ttft_le", "tpot_le", "tps_le")

#: OTLP gauge -> (Prometheus name, factor to its base unit, kind)
GPU_GAUGES: dict[str, tuple[str, float, str]] = {
    sc.METRIC_GPU_UTILIZATION: ("axonize_gpu_utilization_ratio", 0.01, "gauge"),
    sc.METRIC_GPU_MEMORY_USED: ("axonize_gpu_memory_used_bytes", 1.0, "gauge"),
    sc.METRIC_GPU_MEMORY_TOTAL: ("axonize_gpu_memory_total_bytes", 1.0, "gauge"),
    sc.METRIC_GPU_POWER: ("axonize_gpu_power_watts", 1.0, "gauge"),
    sc.METRIC_GPU_TEMPERATURE: ("axonize_gpu_temperature_celsius", 1.0, "gauge"),
    sc.METRIC_GPU_ENERGY: ("axonize_gpu_energy_joules", 1.0, "counter"),
}


def widest_sql(db: str, one_tenant: bool) -> str:
    """The most distinct values any GenAI label has in one tenant (column ``n``): when it is
    within the limit, :func:`genai_sql` need not fold (a cheaper query)."""
    where = "WHERE tenant_id = {tenant:String}" if one_tenant else ""
    counts = ", ".join(f"uniqExact({label})" for label in GENAI_LABELS)
    return (f"SELECT greatest({counts}) AS n FROM {db}.prometheus_totals {where} "
            "GROUP BY tenant_id ORDER BY n DESC LIMIT 1")


def genai_sql(db: str, one_tenant: bool, fold: bool = True) -> str:
    """The cumulative GenAI figures per label set, each label bounded (``{limit:UInt32}``
    values per tenant, those seen first; the rest folded into ``other``, and the operations
    folded counted per label in ``x_over_<label>``); one tenant's with ``{tenant:String}``.
    Folding is done here so that a scrape reads at most a few rows per label set kept, however
    many values the spans brought; without ``fold`` (no label over the limit), plain sums."""
    where = "WHERE tenant_id = {tenant:String}" if one_tenant else ""
    sums = ", ".join(f"sum(t.{c}) AS x_{c}" for c in _SUMS)
    arrays = ", ".join(f"sumForEachMerge(t.{c}) AS x_{c}" for c in _ARRAYS)
    if not fold:
        none = ", ".join(f"0 AS x_over_{label}" for label in GENAI_LABELS)
        return (f"SELECT t.tenant_id AS tenant_id, t.service AS service, t.model AS model, "
                f"t.operation AS operation, {sums}, {arrays}, {none} "
                f"FROM {db}.prometheus_totals AS t {where.replace('tenant_id', 't.tenant_id')} "
                "GROUP BY tenant_id, service, model, operation")
    ranks = "\n".join(
        f"{label}_rank AS (SELECT tenant_id, {label}, row_number() OVER (PARTITION BY tenant_id "
        f"ORDER BY min(first_seen), {label}) AS r FROM {db}.prometheus_totals {where} "
        f"GROUP BY tenant_id, {label}),"
        for label in GENAI_LABELS)
    folded = ", ".join(f"if({label}_rank.r <= {{limit:UInt32}}, t.{label}, '{OTHER}') AS {label}"
                       for label in GENAI_LABELS)
    over = ", ".join(f"sumIf(t.requests, {label}_rank.r > {{limit:UInt32}}) AS x_over_{label}"
                     for label in GENAI_LABELS)
    joins = " ".join(f"JOIN {label}_rank ON {label}_rank.tenant_id = t.tenant_id "
                     f"AND {label}_rank.{label} = t.{label}" for label in GENAI_LABELS)
    return (f"WITH {ranks.rstrip(',')} "
            f"SELECT t.tenant_id AS tenant_id, {folded}, {sums}, {arrays}, {over} "
            f"FROM {db}.prometheus_totals AS t {joins} "
            f"{where.replace('tenant_id', 't.tenant_id')} "
            "GROUP BY tenant_id, service, model, operation")


@dataclass
class GenAiRow:
    """The figures of one label set, as :func:`genai_sql` returns them."""

    sums: dict[str, float]
    arrays: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> GenAiRow:
        return cls({c: float(r[f"x_{c}"]) for c in _SUMS},
                   {c: [int(x) for x in r[f"x_{c}"]] for c in _ARRAYS})


Key = tuple[str, str, str, str]  # tenant, service, model, operation


class LabelLimiter:
    """At most ``limit`` distinct values per (tenant, label); later ones become ``other``."""

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


def _per_bucket(cumulative: Sequence[int], count: int, bounds: Sequence[float]) -> list[int]:
    """Cumulative ``le`` counts (and the total) as counts per bucket, +Inf last."""
    le = list(cumulative) or [0] * len(bounds)
    out = [le[0]] + [le[i] - le[i - 1] for i in range(1, len(le))]
    out.append(count - (le[-1] if le else 0))
    return out


class PromMetrics:
    """The server's own counters and the latest GPU gauges, updated as they happen
    (thread-safe); with the GenAI rows from ClickHouse, everything ``/metrics`` shows."""

    def __init__(self, label_limit: int = 100) -> None:
        self._lock = threading.Lock()
        self.label_limit = max(1, label_limit)
        self.gpu_limit = LabelLimiter(label_limit)
        self.gpus: dict[tuple[str, str, str, str], float] = {}  # (tenant, uuid, node, metric)
        self.ingest_requests = {"traces": 0, "metrics": 0}
        self.ingest_spans = 0
        self.ingest_gpu_points = 0
        self.rejected: dict[tuple[str, str], int] = {}  # (reason, transport) -> count
        self.api: dict[tuple[str, str, str], list[Any]] = {}  # (method, route, code) -> hist

    # ---------------------------------------------------------------- as it happens
    def ingested_traces(self, spans: int) -> None:
        with self._lock:
            self.ingest_requests["traces"] += 1
            self.ingest_spans += spans

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
                key = (tenant, self.gpu_limit(tenant, "gpu_uuid", p.gpu_uuid),
                       self.gpu_limit(tenant, "node", p.node), p.metric)
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
                h = self.api[key] = [[0] * (len(API_BUCKETS) + 1), 0.0]
            i = 0
            while i < len(API_BUCKETS) and seconds > API_BUCKETS[i]:
                i += 1
            h[0][i] += 1
            h[1] += seconds

    # ---------------------------------------------------------------- scrape
    def render(self, out: Exposition, tenant: str | None, genai: Iterable[Mapping[str, Any]],
               server: Mapping[str, float]) -> None:
        """Write the series ``tenant`` may see (every tenant's, and the server's own, for
        ``None``); ``genai``: rows of :func:`genai_sql`."""
        rows: dict[Key, GenAiRow] = {}
        overflow: dict[tuple[str, str], int] = {}
        for r in genai:
            key = (str(r["tenant_id"]), str(r["service"]), str(r["model"]), str(r["operation"]))
            rows[key] = GenAiRow.from_db(r)
            for label in GENAI_LABELS:
                folded = int(r[f"x_over_{label}"])
                if folded:
                    k = (key[0], label)
                    overflow[k] = overflow.get(k, 0) + folded
        with self._lock:
            gpus = sorted((k, v) for k, v in self.gpus.items() if tenant in (None, k[0]))
            for k, v in self.gpu_limit.overflow.items():
                if tenant in (None, k[0]):
                    overflow[k] = overflow.get(k, 0) + v
            rejected = dict(self.rejected)
            api = [(k, list(h[0]), h[1]) for k, h in self.api.items()]
            requests = dict(self.ingest_requests)
            spans, points = self.ingest_spans, self.ingest_gpu_points
        items = sorted(rows.items())

        def lab(k: Key) -> Labels:
            return (("tenant", k[0]), ("service", k[1]), ("model", k[2]), ("operation", k[3]))

        out.scalar("axonize_gen_ai_requests", "counter",
                   [(lab(k), int(r.sums["requests"])) for k, r in items])
        out.scalar("axonize_gen_ai_errors", "counter",
                   [(lab(k), int(r.sums["errors"])) for k, r in items])
        for name, (prefix, bounds) in HISTOGRAMS.items():
            count = "requests" if prefix == "duration" else f"{prefix}_count"
            out.histogram(name, bounds, [
                (lab(k), _per_bucket(r.arrays[f"{prefix}_le"], int(r.sums[count]), bounds),
                 r.sums[f"{prefix}_sum"]) for k, r in items if r.sums[count]])
        out.scalar("axonize_gen_ai_tokens", "counter",
                   [s for k, r in items for s in (
                       ((*lab(k), ("token_type", "input")), int(r.sums["tokens_input"])),
                       ((*lab(k), ("token_type", "output")), int(r.sums["tokens_output"])))])
        out.scalar("axonize_gen_ai_cost_usd", "counter",
                   [(lab(k), r.sums["cost_usd"]) for k, r in items])
        out.scalar("axonize_gen_ai_gpu_seconds", "counter",
                   [(lab(k), r.sums["gpu_seconds"]) for k, r in items])
        for metric, (name, _, kind) in GPU_GAUGES.items():
            out.scalar(name, kind, [
                ((("tenant", k[0]), ("gpu_uuid", k[1]), ("node", k[2])), v)
                for k, v in gpus if k[3] == metric])
        out.scalar("axonize_metrics_label_overflow", "counter", sorted(
            ((("tenant", k[0]), ("label", k[1])), v) for k, v in overflow.items()))
        if tenant is not None:
            return
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
