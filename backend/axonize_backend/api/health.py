"""``/healthz`` and ``/readyz`` (aliases ``/health`` and ``/ready``)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency

from axonize_backend.service import Backend


class Health(msgspec.Struct):
    status: str
    stores: dict[str, bool] = msgspec.field(default_factory=dict)


class IngestStats(msgspec.Struct):
    """What the ingest has set aside: nothing of it is lost silently."""

    unloaded_bytes: int  # acknowledged, in the ingest log, not yet in the span store
    quarantined_requests: int  # acknowledged requests the span store refused (quarantine/)
    refused_spans: int  # spans refused at ingest for their time (answered as partial success)


class Readiness(msgspec.Struct):
    status: str
    stores: dict[str, bool]
    ingest: IngestStats


class HealthController(Controller):
    tags = ["health"]

    @get(["/healthz", "/health"], sync_to_thread=False)
    def healthz(self) -> Health:
        """The process is up."""
        return Health("ok")

    @get("/readyz", sync_to_thread=True)
    def readyz(self, backend: NamedDependency[Backend]) -> Response[Readiness]:
        """Both stores answer; and the ingest's counters since start (the quarantine's since
        ever)."""
        return readiness(backend)

    @get("/ready", sync_to_thread=True)
    def ready(self, backend: NamedDependency[Backend]) -> Response[Readiness]:
        """Alias of ``/readyz`` (a path list on one sync-to-thread handler breaks Litestar)."""
        return readiness(backend)


def readiness(backend: Backend) -> Response[Readiness]:
    stores = {"clickhouse": backend.spans.ping(), "postgres": backend.tenants.ping()}
    ok = all(stores.values())
    ingest = IngestStats(
        backend.log.unloaded_bytes, backend.log.quarantined, backend.refused_spans
    )
    return Response(
        Readiness("ok" if ok else "unavailable", stores, ingest),
        status_code=200 if ok else 503,
    )
