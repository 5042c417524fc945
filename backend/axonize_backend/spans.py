"""The span store: ClickHouse tables ``spans`` and ``gpu_metrics``, and their queries.

One :class:`SpanStore` holds every query and migration; a
:class:`~axonize_backend.transport.Transport` runs them, in-process (chDB, the default: one
process owns the data directory, so the server that ingests is the one that answers queries) or
on a ClickHouse server (``AXONIZE_CLICKHOUSE_URL``).  Every query is parameterised
(``{name:Type}`` placeholders): no SQL is built from request input, and every query is scoped to
one tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from axonize_backend.config import ServerConfig
from axonize_backend.migrations import ordered, statements
from axonize_backend.otlp import GaugePoint
from axonize_backend.pricing import insert_prices
from axonize_backend.schema import gpu_metrics_table
from axonize_backend.sql import frame, token_cost_sql
from axonize_backend.transport import ChdbTransport, ServerTransport, Transport
from axonize_backend.windows import windows


@dataclass
class TraceQuery:
    """Filters of ``GET /api/v1/traces`` (all optional but the tenant and the time range)."""

    tenant_id: str
    since_ns: int
    until_ns: int
    service: str | None = None
    model: str | None = None
    operation: str | None = None
    status: str | None = None  # "ok" | "error"
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    attribute: tuple[str, str] | None = None
    limit: int = 50
    before: tuple[int, str] | None = None  # cursor: (start ns, trace id) of the last row seen
    extra: dict[str, Any] = field(default_factory=dict)
    gpu: str | None = None  # a GPU (uuid) some span of the trace ran on


def _unprefix(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k[2:] if k.startswith("x_") else k: v for k, v in r.items()} for r in rows]


class SpanStore:
    """The span tables of database ``db`` through ``transport``; spans and GPU metrics expire
    after ``ttl_days``."""

    def __init__(self, transport: Transport, ttl_days: int = 30, db: str = "axonize") -> None:
        self.transport = transport
        self.db = db
        self.ttl_days = ttl_days

    @classmethod
    def open(cls, config: ServerConfig) -> SpanStore:
        """The store ``config`` names: the ClickHouse server at ``clickhouse_url``, else chDB in
        ``data_dir/clickhouse``; spans are priced on insert as ``config`` says
        (:func:`~axonize_backend.pricing.insert_prices`)."""
        token_cost = token_cost_sql(insert_prices(config))  # a bad price file fails first
        transport: Transport
        if config.clickhouse_url:
            transport = ServerTransport(config.clickhouse_url)
        else:
            transport = ChdbTransport(config.data_dir / "clickhouse")
        transport.token_cost = token_cost
        return cls(transport, ttl_days=config.ttl_days)

    # ---------------------------------------------------------------- plumbing
    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.transport.query(sql, params)

    def _exec(self, sql: str) -> None:
        self.transport.command(sql)

    def migrate(self) -> list[str]:
        """Apply the ClickHouse migrations not applied yet; returns their versions."""
        self._exec(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        self._exec(
            f"CREATE TABLE IF NOT EXISTS {self.db}.schema_migrations "
            "(version String, applied_at DateTime DEFAULT now()) "
            "ENGINE = MergeTree ORDER BY version"
        )
        done = {
            r["version"] for r in self._query(f"SELECT version FROM {self.db}.schema_migrations")
        }
        applied = []
        for version, sql in ordered("clickhouse"):
            if version in done:
                continue
            text = sql.replace("{db}", self.db).replace("{ttl_days}", str(int(self.ttl_days)))
            for stmt in statements(text):
                self._exec(stmt)
            self._query(
                f"INSERT INTO {self.db}.schema_migrations (version) VALUES ({{v:String}})",
                {"v": version},
            )
            applied.append(version)
        return applied

    def ping(self) -> bool:
        try:
            return bool(self._query("SELECT 1 AS ok")[0]["ok"] == 1)
        except Exception:
            return False

    def insert_spans(
        self, tenant_id: str, requests: list[bytes], gpus: bool = False, token: str = ""
    ) -> list[tuple[str, list[str]]]:
        """Store the spans of OTLP trace requests (serialized ``ExportTraceServiceRequest``s)
        for one tenant, durable when this returns; ClickHouse decodes them.  With ``gpus``,
        also return the GPUs the spans name (rows of
        :func:`~axonize_backend.sql.gpu_records_sql`).  An insert repeated with the same
        ``token`` stores nothing the second time.
        """
        # One request alone may start on more days than an insert may have partitions (a
        # segment from before that was refused at ingest): it is bounded by the request size.
        settings = {"max_partitions_per_insert_block": 0} if len(requests) == 1 else None
        rows = self.transport.insert_requests(
            self.db, tenant_id, frame(requests), token, gpus, settings
        )
        return [(r["service"], list(r["fields"])) for r in rows]

    def check_request(self, tenant_id: str, request: bytes) -> None:
        """Raise with ClickHouse's reason if the spans of ``request`` cannot be stored (decoded
        and computed as an insert would, storing nothing)."""
        self.transport.check_requests(tenant_id, frame([request]))

    def insert_gpu_metrics(self, tenant_id: str, points: Iterable[GaugePoint]) -> int:
        """Store GPU gauge points for one tenant; returns how many."""
        table = gpu_metrics_table(tenant_id, points)
        if table.num_rows:
            self.transport.insert_arrow(f"{self.db}.gpu_metrics", table)
        return int(table.num_rows)

    # ---------------------------------------------------------------- queries
    def list_traces(self, q: TraceQuery) -> list[dict[str, Any]]:
        """A page of traces, newest first, each listed by its root span.

        Two steps: the page of root spans (read in primary-key order with a limit), then the
        per-trace figures of just that page (found through the trace-id skip index).  A filter
        on any span of a trace (model, operation, attribute, status) is looked for in the newest
        time window first, widening it until the page is full, so that a page of recent traces
        reads recent data only.
        """
        params: dict[str, Any] = {"tenant": q.tenant_id, "until": q.until_ns}
        where = []
        span_filters = []
        if q.service:
            where.append("service = {service:String}")
            params["service"] = q.service
        if q.model:
            span_filters.append("model = {model:String}")
            params["model"] = q.model
        if q.operation:
            span_filters.append("operation = {operation:String}")
            params["operation"] = q.operation
        if q.attribute is not None:
            span_filters.append("attributes[{akey:String}] = {aval:String}")
            params["akey"], params["aval"] = q.attribute
        if q.gpu:
            span_filters.append("has(gpu_uuids, {gpu:String})")
            params["gpu"] = q.gpu
        if q.status == "error":
            span_filters.append("status_code = 2")
        if q.min_duration_ms is not None:
            where.append("duration_ns >= {min_ns:UInt64}")
            params["min_ns"] = int(q.min_duration_ms * 1e6)
        if q.max_duration_ms is not None:
            where.append("duration_ns <= {max_ns:UInt64}")
            params["max_ns"] = int(q.max_duration_ms * 1e6)
        hi = q.until_ns
        if q.before is not None:
            where.append(
                "(start_time, hex(trace_id)) < (fromUnixTimestamp64Nano("
                "{cursor_ns:Int64}), {cursor_trace:String})"
            )
            params["cursor_ns"], params["cursor_trace"] = q.before[0], q.before[1].upper()
            hi = min(hi, q.before[0] + 1)
        # Spans of a trace start at or after its root: for roots from `lo`, the spans that
        # decide a filter lie in [lo, until).
        spans_in_range = (
            "tenant_id = {tenant:String} "
            "AND start_time >= fromUnixTimestamp64Nano({lo:Int64}) "
            "AND start_time < fromUnixTimestamp64Nano({until:Int64})"
        )
        if span_filters:
            where.append(
                f"trace_id IN (SELECT trace_id FROM {self.db}.spans WHERE {spans_in_range} "
                f"AND {' AND '.join(span_filters)})"
            )
        if q.status == "ok":
            where.append(
                f"trace_id NOT IN (SELECT trace_id FROM {self.db}.spans WHERE "
                f"{spans_in_range} AND status_code = 2)"
            )
        extra = "".join(f" AND {w}" for w in where)
        sql = f"""
            SELECT lower(hex(trace_id)) AS trace_hex,
                   toUnixTimestamp64Nano(start_time) AS start_ns, duration_ns,
                   name AS root_name, service AS root_service
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}}
              AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{hi:Int64}})
              AND parent_span_id = toFixedString('', 8) {extra}
            ORDER BY start_time DESC
            LIMIT {{limit:UInt32}}"""
        # With nothing to look for in other spans, one read in order does.
        searched = bool(span_filters) or q.status == "ok"
        starts = windows(q.since_ns, hi) if searched else [q.since_ns]
        roots: list[dict[str, Any]] = []
        for lo in starts:
            found = self._query(sql, {**params, "lo": lo, "hi": hi, "limit": q.limit - len(roots)})
            roots += found
            if len(roots) >= q.limit:
                break
            hi = lo
        if not roots:
            return []
        ids = [r["trace_hex"] for r in roots]
        lo = min(int(r["start_ns"]) for r in roots)
        hi = max(int(r["start_ns"]) + int(r["duration_ns"]) for r in roots)
        figures = {
            r["trace_hex"]: r
            for r in self._query(
                f"""
            SELECT lower(hex(trace_id)) AS trace_hex, count() AS span_count,
                   countIf(status_code = 2) AS errors,
                   anyIf(model, model != '') AS any_model,
                   anyIf(operation, operation != '') AS any_operation,
                   sum(ifNull(tokens_input, 0)) AS input_tokens,
                   sum(ifNull(tokens_output, 0)) AS output_tokens, sum(cost_usd) AS cost,
                   minIf(ttft_ms, ttft_ms IS NOT NULL) AS first_ttft_ms
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}}
              AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}})
              AND start_time <= fromUnixTimestamp64Nano({{hi:Int64}})
              AND trace_id IN (SELECT toFixedString(unhex(arrayJoin({{ids:Array(String)}})), 16))
            GROUP BY trace_id""",
                {"tenant": q.tenant_id, "lo": lo, "hi": hi, "ids": self.transport.hex_array(ids)},
            )
        }
        empty = {
            "span_count": 1,
            "errors": 0,
            "any_model": "",
            "any_operation": "",
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": 0.0,
            "first_ttft_ms": None,
        }
        return [
            {**r, **figures.get(r["trace_hex"], empty), "trace_id": r["trace_hex"]} for r in roots
        ]

    def trace_spans(self, tenant_id: str, trace_id: str) -> list[dict[str, Any]]:
        sql = f"""
            SELECT lower(hex(span_id)) AS span_hex,
                   if(parent_span_id = toFixedString('', 8), '',
                      lower(hex(parent_span_id))) AS parent_hex,
                   name, kind, service, toUnixTimestamp64Nano(start_time) AS start_ns,
                   duration_ns, status_code, status_message, operation, model, provider,
                   tokens_input, tokens_output, ttft_ms, tokens_per_second, gpu_seconds,
                   cost_usd, attributes, events
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}} AND trace_id = unhex({{trace:String}})
            ORDER BY start_time, span_id
        """
        return self._query(sql, {"tenant": tenant_id, "trace": trace_id})

    def gpu_series(
        self,
        tenant_id: str,
        gpu_uuid: str,
        since_ns: int,
        until_ns: int,
        step_s: int,
        metric: str | None,
    ) -> list[dict[str, Any]]:
        """GPU gauge series downsampled to ``step_s`` buckets (avg, max per bucket)."""
        where = ""
        params: dict[str, Any] = {
            "tenant": tenant_id,
            "gpu": gpu_uuid,
            "since": since_ns,
            "until": until_ns,
            "step": step_s,
        }
        if metric:
            where = "AND metric = {metric:String}"
            params["metric"] = metric
        sql = f"""
            SELECT metric,
                   toUnixTimestamp64Nano(toDateTime64(toStartOfInterval(time,
                       toIntervalSecond({{step:UInt32}})), 9)) AS bucket_ns,
                   avg(value) AS avg, max(value) AS max, count() AS samples
            FROM {self.db}.gpu_metrics
            WHERE tenant_id = {{tenant:String}} AND gpu_uuid = {{gpu:String}}
              AND time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND time < fromUnixTimestamp64Nano({{until:Int64}}) {where}
            GROUP BY metric, bucket_ns ORDER BY metric, bucket_ns
        """
        return self._query(sql, params)

    def overview(
        self, tenant_id: str, since_ns: int, until_ns: int, bucket_s: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Per model over the range, and per model and time bucket, from ``model_minutes``
        (kept by a materialized view as spans arrive): minute resolution."""
        params = {
            "tenant": tenant_id,
            "since": since_ns // 10**9,
            "until": until_ns // 10**9,
            "bucket": bucket_s,
        }
        # Aliases differ from the column names: ClickHouse resolves an alias before a column.
        figures = """
                   sum(requests) AS x_requests,
                   if(sum(requests) > 0, sum(errors) / sum(requests), 0) AS x_error_rate,
                   quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_ms) AS x_latency_ms,
                   quantilesTDigestMerge(0.5, 0.95, 0.99)(ttft_ms) AS x_ttft_ms,
                   if(sum(tps_count) > 0, sum(tps_sum) / sum(tps_count), nan)
                       AS x_tokens_per_second,
                   sum(tokens_input) AS x_tokens_input, sum(tokens_output) AS x_tokens_output,
                   if(sum(gpu_util_count) > 0, sum(gpu_util_sum) / sum(gpu_util_count), nan)
                       AS x_gpu_utilization,
                   sum(gpu_seconds) AS x_gpu_seconds, sum(cost_usd) AS x_cost_usd"""
        where = f"""
            FROM {self.db}.model_minutes
            WHERE tenant_id = {{tenant:String}}
              AND minute >= toDateTime({{since:Int64}}) AND minute < toDateTime({{until:Int64}})"""
        # One pass for both: per model (bucket_ns 0) and per model and bucket.
        rows = _unprefix(
            self._query(
                f"""SELECT model, toUnixTimestamp(toStartOfInterval(minute,
                    toIntervalSecond({{bucket:UInt32}}))) * 1000000000 AS bucket_ns, {figures}
                {where}
                GROUP BY GROUPING SETS ((model), (model, bucket_ns))
                ORDER BY bucket_ns, model""",
                params,
            )
        )
        models = [r for r in rows if not int(r["bucket_ns"])]
        buckets = [r for r in rows if int(r["bucket_ns"])]
        return models, buckets

    def cost_by(self, tenant_id: str, since_ns: int, until_ns: int,
                attribute: str) -> list[dict[str, Any]]:
        """Spans, cost and GPU-seconds per value of a span attribute (an owner attribute, e.g.
        ``owner.team``), with the budget marks of each one's latest span that has them (the
        collector's budget processor)."""
        sql = f"""
            SELECT attributes[{{attr:String}}] AS x_owner, count() AS x_spans,
                   sum(cost_usd) AS x_cost_usd, sum(gpu_seconds) AS x_gpu_seconds,
                   argMaxIf(attributes['cost.budget.name'],
                            start_time, attributes['cost.budget.name'] != '') AS x_budget,
                   argMaxIf(attributes['cost.budget.limit_usd'],
                            start_time, attributes['cost.budget.name'] != '') AS x_limit,
                   argMaxIf(attributes['cost.budget.spent_usd'],
                            start_time, attributes['cost.budget.name'] != '') AS x_spent,
                   argMaxIf(attributes['cost.budget.exceeded'],
                            start_time, attributes['cost.budget.name'] != '') AS x_exceeded
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}}
              AND start_time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{until:Int64}})
            GROUP BY x_owner ORDER BY x_cost_usd DESC, x_owner
        """
        return _unprefix(self._query(sql, {"tenant": tenant_id, "since": since_ns,
                                           "until": until_ns, "attr": attribute}))

    def usage(self, tenant_id: str, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
        """Spans and GPU-seconds per day."""
        sql = f"""
            SELECT toString(toDate(start_time)) AS day, count() AS spans,
                   sum(gpu_seconds) AS gpu_seconds, sum(cost_usd) AS cost_usd
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}}
              AND start_time >= fromUnixTimestamp64Nano({{since:Int64}})
              AND start_time < fromUnixTimestamp64Nano({{until:Int64}})
            GROUP BY day ORDER BY day
        """
        return self._query(sql, {"tenant": tenant_id, "since": since_ns, "until": until_ns})

    def close(self) -> None:
        self.transport.close()
