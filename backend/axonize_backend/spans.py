"""The span store: ClickHouse tables ``spans`` and ``gpu_metrics`` behind one small protocol.

:class:`ChdbSpanStore` runs the ClickHouse engine in-process (chDB) on a data directory: one
process owns it, so the server that ingests is the one that answers queries.  Every query is
parameterised (``{name:Type}`` placeholders): no SQL is built from request input, and every
query is scoped to one tenant.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from axonize_backend.migrations import ordered, statements

#: Column order of ``spans`` as the ingest path builds it.
SPAN_COLUMNS = (
    "tenant_id",
    "start_time",
    "duration_ns",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service",
    "status_code",
    "status_message",
    "operation",
    "model",
    "provider",
    "tokens_input",
    "tokens_output",
    "ttft_ms",
    "tokens_per_second",
    "gpu_uuids",
    "gpu_utilization",
    "gpu_seconds",
    "cost_usd",
    "attributes",
    "resource",
    "events",
)
GPU_METRIC_COLUMNS = ("tenant_id", "time", "gpu_uuid", "metric", "value", "node")


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


class SpanStore(Protocol):
    def migrate(self) -> list[str]: ...
    def ping(self) -> bool: ...
    def insert_spans(
        self, tenant_id: str, requests: list[bytes], gpus: bool = False, token: str = ""
    ) -> list[tuple[str, list[str]]]: ...
    def insert_gpu_metrics(self, table: Any) -> None: ...
    def list_traces(self, q: TraceQuery) -> list[dict[str, Any]]: ...
    def trace_spans(self, tenant_id: str, trace_id: str) -> list[dict[str, Any]]: ...
    def gpu_series(
        self,
        tenant_id: str,
        gpu_uuid: str,
        since_ns: int,
        until_ns: int,
        step_s: int,
        metric: str | None,
    ) -> list[dict[str, Any]]: ...
    def overview(
        self, tenant_id: str, since_ns: int, until_ns: int, bucket_s: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...
    def usage(self, tenant_id: str, since_ns: int, until_ns: int) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def _unprefix(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k[2:] if k.startswith("x_") else k: v for k, v in r.items()} for r in rows]


def _rows(result: Any) -> list[dict[str, Any]]:
    """The rows of a chDB result in JSONEachRow."""
    data = result.bytes() if hasattr(result, "bytes") else bytes(result)
    return [json.loads(line) for line in data.splitlines() if line]


def _windows(since_ns: int, until_ns: int) -> list[int]:
    """Starts of ever wider windows back from ``until_ns`` (a 64th of the range, then 4 times
    wider each), the last one at ``since_ns``."""
    span = max(until_ns - since_ns, 1)
    starts, width = [], max(span // 64, 1)
    while until_ns - width > since_ns:
        starts.append(until_ns - width)
        width *= 4
    return [*starts, since_ns]


def _array(values: list[str]) -> str:
    """An ``Array(String)`` query parameter of hex strings (chDB takes the literal form)."""
    if not all(v and all(c in "0123456789abcdef" for c in v) for v in values):
        raise ValueError("expected lowercase hex ids")
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


class ChdbSpanStore:
    """ClickHouse in-process (chDB) in ``path``; ``db`` is the database name.

    Span inserts have a connection of their own to the same engine, so that the API's queries
    do not wait behind them.
    """

    def __init__(self, path: Path, ttl_days: int = 30, db: str = "axonize") -> None:
        from chdb import session

        from axonize_backend import ingest

        path.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.ttl_days = ttl_days
        self._session = session.Session(str(path))
        self._lock = threading.Lock()  # one query at a time on the session
        self._insert_session = session.Session(str(path))
        self._insert_lock = threading.Lock()
        self._spool = path / "spool"  # request bytes on their way in (see insert_spans)
        self._spool.mkdir(exist_ok=True)
        # The schema as a file: ClickHouse compiles a schema file once, a schema string per query.
        schema = self._spool / "otlp_trace.proto"
        schema.write_text(ingest.SPAN_SCHEMA, encoding="utf-8")
        self._format_settings = {
            "format_schema": f"{schema}:ExportTraceServiceRequest",
            "format_schema_source": "file",
        }

    # ---------------------------------------------------------------- plumbing
    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return _rows(self._session.query(sql, "JSONEachRow", params=params or {}))

    def _exec(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql)

    def _array(self, values: list[str]) -> Any:
        return _array(values)

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
            return self._query("SELECT 1 AS ok")[0]["ok"] == 1
        except Exception:
            return False

    def insert_spans(
        self, tenant_id: str, requests: list[bytes], gpus: bool = False, token: str = ""
    ) -> list[tuple[str, list[str]]]:
        """Store the spans of OTLP trace requests (serialized ``ExportTraceServiceRequest``s)
        for one tenant, durable when this returns; ClickHouse decodes them.  With ``gpus``,
        also return the GPUs the spans name (rows of
        :func:`~axonize_backend.ingest.gpu_records_sql`).  An insert repeated with the same
        ``token`` stores nothing the second time.
        """
        from axonize_backend import ingest

        path = self._spool / f"{uuid.uuid4().hex}.pb"
        source = (
            f"file({ingest.sql_string(str(path))}, 'Protobuf', "
            f"{ingest.sql_string(ingest.SPAN_STRUCTURE)})"
        )
        path.write_bytes(ingest.frame(requests))
        with self._insert_lock:
            try:
                self._insert_session.query(
                    ingest.span_insert_sql(self.db, source)
                    + ingest.settings_clause(
                        {**self._format_settings, **ingest.dedup_settings(token)}
                    ),
                    params={"tenant": tenant_id},
                )
                if not gpus:
                    return []
                rows = _rows(
                    self._insert_session.query(
                        ingest.gpu_records_sql(source)
                        + ingest.settings_clause(self._format_settings),
                        "JSONEachRow",
                    )
                )
            finally:
                path.unlink(missing_ok=True)
        return [(r["service"], r["fields"]) for r in rows]

    def insert_gpu_metrics(self, table: Any) -> None:
        cols = ", ".join(GPU_METRIC_COLUMNS)
        with self._lock:
            self._session.query(
                f"INSERT INTO {self.db}.gpu_metrics ({cols}) SELECT {cols} FROM Python(table)"
            )

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
        windows = _windows(q.since_ns, hi) if searched else [q.since_ns]
        roots: list[dict[str, Any]] = []
        for lo in windows:
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
                   sum(ifNull(tokens_output, 0)) AS output_tokens, sum(cost_usd) AS cost
            FROM {self.db}.spans
            WHERE tenant_id = {{tenant:String}}
              AND start_time >= fromUnixTimestamp64Nano({{lo:Int64}})
              AND start_time <= fromUnixTimestamp64Nano({{hi:Int64}})
              AND trace_id IN (SELECT unhex(arrayJoin({{ids:Array(String)}})))
            GROUP BY trace_id""",
                {"tenant": q.tenant_id, "lo": lo, "hi": hi, "ids": self._array(ids)},
            )
        }
        empty = {
            "span_count": 1,
            "errors": 0,
            "any_model": "",
            "any_operation": "",
            "output_tokens": 0,
            "cost": 0.0,
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
        with self._insert_lock, self._lock:
            try:
                self._insert_session.close()
            except Exception:
                pass
            try:
                self._session.close()
            except Exception:
                pass


def _external(data: bytes) -> Any:
    from clickhouse_connect.driver.external import ExternalData

    from axonize_backend import ingest

    return ExternalData(
        file_name="requests", data=data, fmt="Protobuf", structure=ingest.SPAN_STRUCTURE
    )


class ServerSpanStore(ChdbSpanStore):
    """The same tables and SQL on a ClickHouse server (or cluster front) via clickhouse-connect.

    ``url`` is a clickhouse-connect DSN (``http://user:password@host:8123``).  Only the transport
    differs from :class:`ChdbSpanStore`: every query, parameter and migration is shared.
    """

    def __init__(self, url: str, ttl_days: int = 30, db: str = "axonize") -> None:
        import clickhouse_connect

        self.db = db
        self.ttl_days = ttl_days
        self._client = clickhouse_connect.get_client(dsn=url)
        self._lock = threading.Lock()

    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            result = self._client.query(sql, parameters=params or {})
        return list(result.named_results())

    def _exec(self, sql: str) -> None:
        with self._lock:
            self._client.command(sql)

    def _array(self, values: list[str]) -> Any:
        _array(values)  # the same validation
        return list(values)

    def insert_spans(
        self, tenant_id: str, requests: list[bytes], gpus: bool = False, token: str = ""
    ) -> list[tuple[str, list[str]]]:
        """As :meth:`ChdbSpanStore.insert_spans`; the request bytes go in the HTTP body and the
        server reads them with ``input()``."""
        from axonize_backend import ingest

        source = f"input({ingest.sql_string(ingest.SPAN_STRUCTURE)})"
        data = ingest.frame(requests)
        with self._lock:
            self._client.command(
                ingest.span_insert_sql(self.db, source) + " FORMAT Protobuf",
                parameters={"tenant": tenant_id},
                data=data,
                settings={**ingest.FORMAT_SETTINGS, **ingest.dedup_settings(token)},
            )
            if not gpus:
                return []
            # The same SELECT over the same bytes, sent as an external table.
            rows = self._client.query(
                ingest.gpu_records_sql("requests"),
                settings=ingest.FORMAT_SETTINGS,
                external_data=_external(data),
            ).named_results()
        return [(r["service"], list(r["fields"])) for r in rows]

    def insert_gpu_metrics(self, table: Any) -> None:
        with self._lock:
            self._client.insert_arrow(f"{self.db}.gpu_metrics", table)

    def close(self) -> None:
        with self._lock:
            try:
                self._client.close()
            except Exception:
                pass
