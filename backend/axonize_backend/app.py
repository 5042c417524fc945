"""The HTTP side: OTLP/HTTP ingest and the REST API, as a Litestar app.

Controllers per resource, msgspec structs on the wire, the :class:`Backend` injected, errors as
RFC 9457 problem details (``application/problem+json``).  Every API call is scoped to the tenant
of its key; admin calls need the admin key.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Annotated, Any

import msgspec
from litestar import Controller, Litestar, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_backend import __version__
from axonize_backend.ingest import ATTRIBUTE_COLUMNS, stored_events, stored_text
from axonize_backend.service import Backend, BadRequest, Overloaded, Unauthorized
from axonize_backend.spans import TraceQuery

PROTOBUF = "application/x-protobuf"
logger = logging.getLogger("axonize.server")
DAY_NS = 86_400 * 10**9


# ------------------------------------------------------------------------- wire types
class Health(msgspec.Struct):
    status: str
    stores: dict[str, bool] = msgspec.field(default_factory=dict)


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


class SeriesPoint(msgspec.Struct):
    time_unix_nano: int
    avg: float
    max: float
    samples: int


class GpuSeries(msgspec.Struct):
    gpu_uuid: str
    step_s: int
    series: dict[str, list[SeriesPoint]]


class ModelFigures(msgspec.Struct):
    model: str
    requests: int
    error_rate: float
    latency_ms: dict[str, float]
    ttft_ms: dict[str, float] | None
    tokens_per_second: float | None
    tokens_input: int
    tokens_output: int
    gpu_utilization_pct: float | None
    gpu_seconds: float
    cost_usd: float


class BucketFigures(msgspec.Struct):
    time_unix_nano: int
    model: str
    requests: int
    error_rate: float
    latency_ms: dict[str, float]
    tokens_per_second: float | None
    cost_usd: float


class Overview(msgspec.Struct):
    since_unix_nano: int
    until_unix_nano: int
    bucket_s: int
    models: list[ModelFigures]
    buckets: list[BucketFigures]


class UsageDay(msgspec.Struct):
    day: str
    spans: int
    gpu_seconds: float
    cost_usd: float


class Usage(msgspec.Struct):
    tenant_id: str
    days: list[UsageDay]


class TenantIn(msgspec.Struct):
    name: str


class TenantOut(msgspec.Struct):
    id: str
    name: str
    created_at: str


class KeyOut(msgspec.Struct):
    key: str
    prefix: str
    tenant_id: str


# ------------------------------------------------------------------------- dependencies
def _tenant(request: Request[Any, Any, Any], backend: Backend) -> str:
    try:
        return backend.tenant_for(backend.key_from_headers(request.headers))
    except Unauthorized as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None


def _reader(request: Request[Any, Any, Any], backend: Backend) -> str:
    """The caller's tenant, once everything acknowledged before this call can be read."""
    tenant = _tenant(request, backend)
    backend.wait_loaded()
    return tenant


def _admin(request: Request[Any, Any, Any], backend: Backend) -> None:
    if not backend.config.admin_key:
        raise HTTPException(status_code=403, detail="admin API disabled: set AXONIZE_ADMIN_KEY")
    if not backend.is_admin(backend.key_from_headers(request.headers)):
        raise HTTPException(
            status_code=401, detail="admin key required: 'authorization: Bearer <admin key>'"
        )


# ------------------------------------------------------------------------- controllers
class HealthController(Controller):
    tags = ["health"]

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> Health:
        """The process is up."""
        return Health("ok")

    @get("/readyz", sync_to_thread=True)
    def readyz(self, backend: NamedDependency[Backend]) -> Response[Health]:
        """Both stores answer."""
        stores = {"clickhouse": backend.spans.ping(), "postgres": backend.tenants.ping()}
        ok = all(stores.values())
        return Response(
            Health("ok" if ok else "unavailable", stores), status_code=200 if ok else 503
        )


class OtlpController(Controller):
    """OTLP/HTTP: protobuf or JSON, acknowledged once the rows are stored."""

    tags = ["otlp"]

    async def _ingest(
        self, request: Request[Any, Any, Any], backend: Backend, kind: str
    ) -> Response[bytes]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, "application/json"):
            raise HTTPException(
                status_code=415,
                detail=f"content-type {content_type!r} is "
                "not OTLP: use application/x-protobuf or application/json",
            )
        tenant = _tenant(request, backend)
        body = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            import gzip

            try:
                body = gzip.decompress(body)
            except OSError:
                raise HTTPException(status_code=400, detail="body is not valid gzip") from None
            if len(body) > backend.config.max_request_bytes:
                raise HTTPException(status_code=413, detail="decompressed body too large")
        from anyio import to_thread

        ingest = backend.ingest_traces if kind == "traces" else backend.ingest_metrics
        try:
            await to_thread.run_sync(ingest, tenant, body, content_type)
        except BadRequest as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except Overloaded as exc:
            raise HTTPException(
                status_code=503, detail=str(exc), headers={"retry-after": "1"}
            ) from None
        reply = (
            ts.ExportTraceServiceResponse()
            if kind == "traces"
            else ms.ExportMetricsServiceResponse()
        )
        if content_type == PROTOBUF:
            return Response(reply.SerializeToString(), media_type=PROTOBUF)
        return Response(b"{}", media_type="application/json")

    @post("/v1/traces", status_code=200)
    async def traces(
        self, request: Request[Any, Any, Any], backend: NamedDependency[Backend]
    ) -> Response[bytes]:
        """OTLP/HTTP traces (ExportTraceServiceRequest)."""
        return await self._ingest(request, backend, "traces")

    @post("/v1/metrics", status_code=200)
    async def metrics(
        self, request: Request[Any, Any, Any], backend: NamedDependency[Backend]
    ) -> Response[bytes]:
        """OTLP/HTTP metrics (the ``gpu.*`` gauges are stored)."""
        return await self._ingest(request, backend, "metrics")


class TraceController(Controller):
    path = "/api/v1/traces"
    tags = ["traces"]

    @get("/", sync_to_thread=True)
    def list_traces(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        service: FromQuery[str | None] = None,
        model: FromQuery[str | None] = None,
        operation: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(ok|error)$")] = None,
        min_duration_ms: Annotated[float | None, QueryParameter(ge=0)] = None,
        max_duration_ms: Annotated[float | None, QueryParameter(ge=0)] = None,
        since: Annotated[
            int | None, QueryParameter(description="unix ns, default 24 h ago")
        ] = None,
        until: Annotated[int | None, QueryParameter(description="unix ns, default now")] = None,
        attribute: Annotated[str | None, QueryParameter(description="key=value")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
        cursor: FromQuery[str | None] = None,
    ) -> TracePage:
        """Traces, newest first, filtered; ``next_cursor`` continues the listing."""
        tenant = _reader(request, backend)
        now = time.time_ns()
        attr = None
        if attribute is not None:
            key, sep, value = attribute.partition("=")
            if not sep or not key:
                raise HTTPException(status_code=400, detail="attribute must be key=value")
            attr = (key, value)
        before = _decode_cursor(cursor) if cursor else None
        q = TraceQuery(
            tenant,
            since if since is not None else now - DAY_NS,
            until if until is not None else now + 60 * 10**9,
            service,
            model,
            operation,
            status,
            min_duration_ms,
            max_duration_ms,
            attr,
            limit + 1,
            before,
        )
        rows = backend.spans.list_traces(q)
        more = len(rows) > limit
        rows = rows[:limit]
        traces = [
            TraceSummary(
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
            )
            for r in rows
        ]
        nxt = (
            _encode_cursor(traces[-1].start_time_unix_nano, traces[-1].trace_id)
            if (more and traces)
            else None
        )
        return TracePage(traces, nxt)

    @get("/{trace_id:str}", sync_to_thread=True)
    def get_trace(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        trace_id: FromPath[str],
    ) -> TraceDetail:
        """Every span of one trace, as a tree."""
        tenant = _reader(request, backend)
        tid = trace_id.lower()
        if len(tid) != 32 or any(c not in "0123456789abcdef" for c in tid):
            raise HTTPException(status_code=400, detail="trace id must be 32 hex characters")
        rows = backend.spans.trace_spans(tenant, tid)
        if not rows:
            raise HTTPException(status_code=404, detail=f"no trace {tid}")
        return TraceDetail(tid, len(rows), _tree(rows))


class GpuController(Controller):
    path = "/api/v1/gpus"
    tags = ["gpus"]

    @get("/", sync_to_thread=True)
    def list_gpus(
        self, request: Request[Any, Any, Any], backend: NamedDependency[Backend]
    ) -> list[dict[str, Any]]:
        """The tenant's GPU registry: physical GPUs, compute resources, runtime contexts."""
        return [_jsonable(g) for g in backend.tenants.gpus(_reader(request, backend))]

    @get("/{gpu_uuid:str}", sync_to_thread=True)
    def get_gpu(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        gpu_uuid: FromPath[str],
    ) -> dict[str, Any]:
        found = backend.tenants.gpus(_reader(request, backend), gpu_uuid)
        if not found:
            raise HTTPException(status_code=404, detail=f"no GPU {gpu_uuid}")
        return _jsonable(found[0])

    @get("/{gpu_uuid:str}/metrics", sync_to_thread=True)
    def gpu_metrics(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        gpu_uuid: FromPath[str],
        since: Annotated[int | None, QueryParameter(description="unix ns, default 1 h ago")] = None,
        until: Annotated[int | None, QueryParameter(description="unix ns, default now")] = None,
        step_s: Annotated[int, QueryParameter(ge=1, le=86_400)] = 60,
        metric: FromQuery[str | None] = None,
    ) -> GpuSeries:
        """A GPU's gauge series (``gpu.utilization``, ...), averaged per ``step_s``."""
        tenant = _reader(request, backend)
        now = time.time_ns()
        rows = backend.spans.gpu_series(
            tenant, gpu_uuid, since or now - 3600 * 10**9, until or now + 60 * 10**9, step_s, metric
        )
        series: dict[str, list[SeriesPoint]] = {}
        for r in rows:
            series.setdefault(r["metric"], []).append(
                SeriesPoint(
                    int(r["bucket_ns"]), float(r["avg"]), float(r["max"]), int(r["samples"])
                )
            )
        if not series and not backend.tenants.gpus(tenant, gpu_uuid):
            raise HTTPException(status_code=404, detail=f"no GPU {gpu_uuid}")
        return GpuSeries(gpu_uuid, step_s, series)


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]

    @get("/overview", sync_to_thread=True)
    def overview(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        since: Annotated[
            int | None, QueryParameter(description="unix ns, default 24 h ago")
        ] = None,
        until: Annotated[int | None, QueryParameter(description="unix ns, default now")] = None,
        bucket_s: Annotated[int, QueryParameter(ge=60, le=86_400)] = 3600,
    ) -> Overview:
        """Per model: requests, error rate, latency and TTFT percentiles, tokens/s, GPU
        utilization and cost, over the range and per time bucket."""
        tenant = _reader(request, backend)
        now = time.time_ns()
        lo, hi = since or now - DAY_NS, until or now + 60 * 10**9
        models, buckets = backend.spans.overview(tenant, lo, hi, bucket_s)
        return Overview(
            lo,
            hi,
            bucket_s,
            [
                ModelFigures(
                    r["model"],
                    int(r["requests"]),
                    float(r["error_rate"]),
                    _pcts(r["latency_ms"]),
                    _pcts(r["ttft_ms"]) if _finite(r["ttft_ms"]) else None,
                    _opt(r["tokens_per_second"]),
                    int(r["tokens_input"]),
                    int(r["tokens_output"]),
                    _opt(r["gpu_utilization"]),
                    float(r["gpu_seconds"]),
                    float(r["cost_usd"]),
                )
                for r in models
            ],
            [
                BucketFigures(
                    int(r["bucket_ns"]),
                    r["model"],
                    int(r["requests"]),
                    float(r["error_rate"]),
                    _pcts(r["latency_ms"]),
                    _opt(r["tokens_per_second"]),
                    float(r["cost_usd"]),
                )
                for r in buckets
            ],
        )


class AdminController(Controller):
    path = "/api/v1/admin/tenants"
    tags = ["admin"]

    @post("/", sync_to_thread=True, status_code=201)
    def create_tenant(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        data: JSONBody[TenantIn],
    ) -> TenantOut:
        """A new tenant (names are unique)."""
        _admin(request, backend)
        name = data.name.strip()
        if not name or len(name) > 200:
            raise HTTPException(status_code=400, detail="name must be 1-200 characters")
        if any(t.name == name for t in backend.tenants.tenants()):
            raise HTTPException(status_code=409, detail=f"tenant {name!r} exists")
        t = backend.tenants.create_tenant(name)
        return TenantOut(t.id, t.name, t.created_at.isoformat())

    @get("/", sync_to_thread=True)
    def list_tenants(
        self, request: Request[Any, Any, Any], backend: NamedDependency[Backend]
    ) -> list[TenantOut]:
        _admin(request, backend)
        return [
            TenantOut(t.id, t.name, t.created_at.isoformat()) for t in backend.tenants.tenants()
        ]

    @post("/{tenant_id:str}/keys", sync_to_thread=True, status_code=201)
    def create_key(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant_id: FromPath[str],
    ) -> KeyOut:
        """A new API key, shown once: only its hash is kept."""
        _admin(request, backend)
        if backend.tenants.tenant(tenant_id) is None:
            raise HTTPException(status_code=404, detail=f"no tenant {tenant_id}")
        key, prefix = backend.tenants.create_key(tenant_id)
        return KeyOut(key, prefix, tenant_id)

    @get("/{tenant_id:str}/usage", sync_to_thread=True)
    def usage(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant_id: FromPath[str],
        since: FromQuery[int | None] = None,
        until: FromQuery[int | None] = None,
    ) -> Usage:
        """Spans and GPU-seconds by day (default: the last 30 days)."""
        _admin(request, backend)
        if backend.tenants.tenant(tenant_id) is None:
            raise HTTPException(status_code=404, detail=f"no tenant {tenant_id}")
        backend.wait_loaded()
        now = time.time_ns()
        rows = backend.spans.usage(tenant_id, since or now - 30 * DAY_NS, until or now + DAY_NS)
        return Usage(
            tenant_id,
            [
                UsageDay(r["day"], int(r["spans"]), float(r["gpu_seconds"]), float(r["cost_usd"]))
                for r in rows
            ],
        )

    @delete("/{tenant_id:str}/keys/{prefix:str}", sync_to_thread=True, status_code=204)
    def revoke_key(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant_id: FromPath[str],
        prefix: FromPath[str],
    ) -> None:
        """Revoke a key: it stops working at once."""
        _admin(request, backend)
        if backend.tenants.tenant(tenant_id) is None or not backend.tenants.revoke_key(
            tenant_id, prefix
        ):
            raise HTTPException(status_code=404, detail=f"no active key {prefix}")


# ------------------------------------------------------------------------- helpers
def _encode_cursor(start_ns: int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ns}:{trace_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        ns, trace = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if len(trace) != 32:
            raise ValueError
        return int(ns), trace
    except Exception:
        raise HTTPException(status_code=400, detail="invalid cursor") from None


def _tree(rows: list[dict[str, Any]]) -> list[SpanNode]:
    nodes = {}
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
            _attributes(r),
            stored_events(r["events"]),
            [],
        )
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_span_id or "")
        if parent is None:
            roots.append(node)  # a root, or a child whose parent has not arrived
        else:
            parent.children.append(node)
    return roots


def _attributes(r: dict[str, Any]) -> dict[str, str]:
    """A span's attributes: its map plus what the store keeps as columns (under every name the
    column is read from, see :data:`~axonize_backend.ingest.ATTRIBUTE_COLUMNS`)."""
    out = {k: stored_text(v) for k, v in r["attributes"].items()}
    for column, names in ATTRIBUTE_COLUMNS.items():
        value = r.get(column)
        if value is None or value == "":
            continue
        if column in _ZERO_IS_ABSENT:
            if not value:
                continue
            text = repr(value)
        else:
            text = repr(round(value, 3)) if isinstance(value, float) else str(value)
        for name in names:
            out.setdefault(name, text)
    return out


#: Columns stored as 0 when the span had no such attribute.
_ZERO_IS_ABSENT = frozenset(("gpu_seconds", "cost_usd"))


def _finite(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and v == v for v in values)


def _pcts(values: Any) -> dict[str, float]:
    """ClickHouse's quantiles(0.5, 0.95, 0.99) as {p50, p95, p99} (nan -> 0 when empty)."""
    vals = [float(v) if isinstance(v, (int, float)) and v == v else 0.0 for v in values or ()]
    vals += [0.0] * (3 - len(vals))
    return {"p50": vals[0], "p95": vals[1], "p99": vals[2]}


def _opt(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value == value else None


def _jsonable(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_jsonable(v) for v in d]
    if hasattr(d, "isoformat"):
        return d.isoformat()
    return d


def _problem(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """RFC 9457 problem details for every error (unexpected ones are logged in full)."""
    if not isinstance(exc, HTTPException):
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    titles = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        409: "Conflict",
        413: "Content Too Large",
        415: "Unsupported Media Type",
        503: "Service Unavailable",
    }
    body = {
        "type": "about:blank",
        "title": titles.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    extra = getattr(exc, "extra", None)
    if extra:
        body["errors"] = extra
    return Response(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def create_app(backend: Backend) -> Litestar:
    return Litestar(
        route_handlers=[
            HealthController,
            OtlpController,
            TraceController,
            GpuController,
            AnalyticsController,
            AdminController,
        ],
        dependencies={"backend": Provide(lambda: backend, sync_to_thread=False)},
        exception_handlers={Exception: _problem},
        openapi_config=OpenAPIConfig(title="Axonize", version=__version__, path="/schema"),
        request_max_body_size=backend.config.max_request_bytes,
        debug=False,
    )
