"""``/healthz`` and ``/readyz``."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency

from axonize_backend.service import Backend


class Health(msgspec.Struct):
    status: str
    stores: dict[str, bool] = msgspec.field(default_factory=dict)


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
