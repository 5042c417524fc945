"""The backend's core, shared by the HTTP app and the gRPC server: stores, auth and ingest."""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_backend.config import ServerConfig
from axonize_backend.errors import BadRequest, Overloaded, Unauthorized
from axonize_backend.gpu_registry import gpu_record
from axonize_backend.ingest_log import IngestLog, LogFull
from axonize_backend.otlp import (
    check_traces,
    gpu_gauge_points,
    parse_metrics,
    time_window,
)
from axonize_backend.prometheus import PromMetrics
from axonize_backend.spans import SpanStore
from axonize_backend.tenants import TenantStore, start_embedded_postgres

logger = logging.getLogger("axonize.server")


@dataclass
class IngestResult:
    spans: int = 0
    gpu_points: int = 0
    rejected: int = 0  # spans or points refused (OTLP partial success), for ``reason``
    reason: str = ""


def trace_response(result: IngestResult) -> Any:
    """The ``ExportTraceServiceResponse`` of an ingest: a partial success if spans were
    refused."""
    response = ts.ExportTraceServiceResponse()
    if result.rejected:
        response.partial_success.rejected_spans = result.rejected
        response.partial_success.error_message = result.reason
    return response


def metrics_response(result: IngestResult) -> Any:
    """The ``ExportMetricsServiceResponse`` of an ingest (partial success if points were
    refused)."""
    response = ms.ExportMetricsServiceResponse()
    if result.rejected:
        response.partial_success.rejected_data_points = result.rejected
        response.partial_success.error_message = result.reason
    return response


class Backend:
    """Both stores, the tenant check and the ingest path."""

    def __init__(
        self, config: ServerConfig, spans: SpanStore, tenants: TenantStore, postgres: Any = None
    ) -> None:
        self.config = config
        self._postgres = postgres  # the embedded server's handle, if we started one
        self.spans = spans
        self.tenants = tenants
        # Bounded work in flight: beyond it requests are refused with a retryable status
        # instead of queueing without limit.
        self._slots = threading.BoundedSemaphore(16)
        self.refused_spans = 0  # spans refused for their time (counted, logged, answered)
        self.processors = _processors(config)
        self.prom = PromMetrics(config.metrics_label_limit)  # what /metrics shows
        # Acknowledged requests wait on disk for a bulk load into the span store.
        self.log = IngestLog(
            config.data_dir / "ingest-log",
            lambda *args: self.spans.insert_spans(*args),
            self._record_gpus,
            start=False,  # started by open(), once the stores are migrated
            check=lambda tenant, body: self.spans.check_request(tenant, body),
            healthy=lambda: self.spans.ping(),
        )

    @classmethod
    def open(cls, config: ServerConfig) -> Backend:
        """Start (or connect to) both stores and apply pending migrations."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        spans = SpanStore.open(config)
        postgres = None
        dsn = config.postgres_dsn
        if not dsn:
            dsn, postgres = start_embedded_postgres(config.data_dir / "postgres")
        tenants = TenantStore(dsn)
        backend = cls(config, spans, tenants, postgres)
        backend.migrate()
        backend.log.start()  # loads what a previous process left, now that the tables exist
        return backend

    def migrate(self) -> dict[str, list[str]]:
        return {"postgres": self.tenants.migrate(), "clickhouse": self.spans.migrate()}

    def close(self) -> None:
        self.log.close()
        self.spans.close()
        self.tenants.close()
        if self._postgres is not None:
            try:
                self._postgres.cleanup()  # stops it unless another process still uses it
            except Exception:
                logger.warning("could not stop the embedded PostgreSQL", exc_info=True)
            self._postgres = None

    # ---------------------------------------------------------------- auth
    @staticmethod
    def key_from_headers(headers: Any) -> str:
        """``authorization: Bearer <key>`` or ``x-api-key: <key>`` (first found)."""
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            return str(auth[7:].strip())
        return str(headers.get("x-api-key") or "").strip()

    def tenant_for(self, key: str) -> str:
        tenant = self.tenants.authenticate(key) if key else None
        if tenant is None:
            raise Unauthorized(
                "missing, unknown or revoked API key: send "
                "'authorization: Bearer <key>' or 'x-api-key: <key>'"
            )
        return tenant

    def is_admin(self, key: str) -> bool:
        admin = self.config.admin_key
        return bool(admin) and hmac.compare_digest(key.encode(), admin.encode())

    # ---------------------------------------------------------------- ingest
    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the bounded places for a request in flight (``Overloaded`` after 5 s)."""
        if not self._slots.acquire(blocking=True, timeout=5):
            raise Overloaded("the server is busy; retry with backoff")
        try:
            yield
        finally:
            self._slots.release()

    def ingest_traces(self, tenant_id: str, body: bytes, content_type: str) -> IngestResult:
        """Check a trace request and log it; it is acknowledged once on disk and reaches the
        span store with the next bulk load (:meth:`wait_loaded`)."""
        with self._slot():
            # Checked here and logged as re-encoded (what was checked is what ClickHouse
            # decodes when it loads the request).
            checked = check_traces(body, content_type, self._window(), self.processors)
            if checked.rejected:
                self.refused_spans += checked.rejected
                logger.info("refused %d spans: %s", checked.rejected, checked.reason)
            if not checked.spans:
                if checked.rejected:
                    raise BadRequest(f"no span accepted: {checked.reason}")
                return IngestResult()
            try:
                self.log.append(tenant_id, checked.body, checked.days)
            except LogFull as exc:
                raise Overloaded(str(exc)) from None
            self.prom.ingested_traces(checked.spans)
            return IngestResult(
                spans=checked.spans, rejected=checked.rejected, reason=checked.reason
            )

    def _window(self) -> tuple[int, int]:
        return time_window(time.time_ns(), self.config.ttl_days)

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait until every span acknowledged so far can be queried (``read_wait_s`` at most
        by default); False if the wait ended first."""
        return self.log.wait_loaded(self.config.read_wait_s if timeout is None else timeout)

    def _record_gpus(self, tenant_id: str, rows: list[tuple[str, list[str]]]) -> None:
        found = (gpu_record(service, fields) for service, fields in rows)
        records = {record for record in found if record is not None}
        if records:
            self.tenants.upsert_gpus(tenant_id, records)

    def ingest_metrics(self, tenant_id: str, body: bytes, content_type: str) -> IngestResult:
        with self._slot():
            lo, hi = self._window()
            found = gpu_gauge_points(parse_metrics(body, content_type))
            points = [p for p in found if lo <= p.time_ns <= hi]
            refused = len(found) - len(points)
            reason = ""
            if refused:
                reason = (
                    f"{refused} gpu.* gauge points outside the accepted window [{lo}, {hi}] "
                    "(the retention period back, one day ahead of the server's clock)"
                )
                if not points:
                    raise BadRequest(f"no point accepted: {reason}")
            if not points:
                return IngestResult()
            stored = self.spans.insert_gpu_metrics(tenant_id, points)
            self.prom.observe_gpu(tenant_id, points, stored)
            return IngestResult(gpu_points=stored, rejected=refused, reason=reason)


def _processors(config: ServerConfig) -> Any:
    """The collector pipeline of the processors file's ``processors`` section, or None.

    Token pricing happens inside the ClickHouse insert (:mod:`axonize_backend.pricing`), so the
    cost processor runs here only when the section names it (for GPU-seconds prices of spans
    that arrive without a cost) or a budget needs each span's cost before it is stored."""
    if not config.processors_file:
        return None
    from axonize_collector.config import build_pipeline

    processors = config.processors()
    if "cost" not in processors and "budget" not in processors:
        processors["cost"] = {"enabled": False}
    return build_pipeline(processors)
