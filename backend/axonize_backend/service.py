"""The backend's core, shared by the HTTP app and the gRPC server: stores, auth and ingest."""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from axonize_backend.config import ServerConfig
from axonize_backend.errors import Overloaded, Unauthorized
from axonize_backend.gpu_registry import gpu_record
from axonize_backend.ingest_log import IngestLog, LogFull
from axonize_backend.otlp import (
    check_ids,
    gpu_gauge_points,
    parse_metrics,
    parse_traces,
    span_count,
)
from axonize_backend.spans import SpanStore
from axonize_backend.tenants import TenantStore, start_embedded_postgres

logger = logging.getLogger("axonize.server")


@dataclass
class IngestResult:
    spans: int = 0
    gpu_points: int = 0


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
        # Acknowledged requests wait on disk for a bulk load into the span store.
        self.log = IngestLog(
            config.data_dir / "ingest-log",
            lambda *args: self.spans.insert_spans(*args),
            self._record_gpus,
            start=False,  # started by open(), once the stores are migrated
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
            # Parsed here only to refuse a malformed request with a clear message; its spans are
            # decoded by ClickHouse when loaded.
            req = parse_traces(body, content_type)
            n = span_count(req)
            if not n:
                return IngestResult()
            check_ids(req)
            if not content_type.startswith("application/x-protobuf"):
                body = req.SerializeToString()  # OTLP/JSON, as protobuf
            try:
                self.log.append(tenant_id, body)
            except LogFull as exc:
                raise Overloaded(str(exc)) from None
            return IngestResult(spans=n)

    def wait_loaded(self, timeout: float = 10.0) -> bool:
        """Wait until every span acknowledged so far can be queried."""
        return self.log.wait_loaded(timeout)

    def _record_gpus(self, tenant_id: str, rows: list[tuple[str, list[str]]]) -> None:
        found = (gpu_record(service, fields) for service, fields in rows)
        records = {record for record in found if record is not None}
        if records:
            self.tenants.upsert_gpus(tenant_id, records)

    def ingest_metrics(self, tenant_id: str, body: bytes, content_type: str) -> IngestResult:
        with self._slot():
            points = gpu_gauge_points(parse_metrics(body, content_type))
            if not points:
                return IngestResult()
            return IngestResult(gpu_points=self.spans.insert_gpu_metrics(tenant_id, points))
