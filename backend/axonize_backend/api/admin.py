"""``/api/v1/admin/tenants``: tenants, their API keys and their usage; admin key only."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from axonize_backend.api.auth import admin_guard, wait_for_loads
from axonize_backend.api.params import TimeRange, last_30_days
from axonize_backend.api.problems import BadRequestProblem, NotFoundProblem
from axonize_backend.service import Backend
from axonize_backend.tenants import Tenant

MAX_NAME = 200


class TenantIn(msgspec.Struct):
    name: str


class TenantOut(msgspec.Struct):
    id: str
    name: str
    created_at: str

    @classmethod
    def of(cls, t: Tenant) -> TenantOut:
        return cls(t.id, t.name, t.created_at.isoformat())


class KeyOut(msgspec.Struct):
    key: str
    prefix: str
    tenant_id: str


class UsageDay(msgspec.Struct):
    day: str
    spans: int
    gpu_seconds: float
    cost_usd: float


class Usage(msgspec.Struct):
    tenant_id: str
    days: list[UsageDay]


def tenant_name(name: str) -> str:
    """A tenant's name as stored: trimmed, 1 to :data:`MAX_NAME` characters."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise BadRequestProblem(f"name must be 1-{MAX_NAME} characters")
    return name


class AdminController(Controller):
    path = "/api/v1/admin/tenants"
    tags = ["admin"]
    guards = [admin_guard]
    dependencies = {"window": Provide(last_30_days, sync_to_thread=False)}

    @post("/", sync_to_thread=True, status_code=201)
    def create_tenant(
        self, backend: NamedDependency[Backend], data: JSONBody[TenantIn]
    ) -> TenantOut:
        """A new tenant (names are unique: 409 for a name in use)."""
        return TenantOut.of(backend.tenants.create_tenant(tenant_name(data.name)))

    @get("/", sync_to_thread=True)
    def list_tenants(self, backend: NamedDependency[Backend]) -> list[TenantOut]:
        return [TenantOut.of(t) for t in backend.tenants.tenants()]

    @post("/{tenant_id:str}/keys", sync_to_thread=True, status_code=201)
    def create_key(self, backend: NamedDependency[Backend], tenant_id: FromPath[str]) -> KeyOut:
        """A new API key, shown once: only its hash is kept."""
        _existing(backend, tenant_id)
        key, prefix = backend.tenants.create_key(tenant_id)
        return KeyOut(key, prefix, tenant_id)

    @get("/{tenant_id:str}/usage", sync_to_thread=True)
    def usage(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        window: NamedDependency[TimeRange],
        tenant_id: FromPath[str],
    ) -> Usage:
        """Spans and GPU-seconds by day (default: the last 30 days)."""
        _existing(backend, tenant_id)
        wait_for_loads(request, backend)
        rows = backend.spans.usage(tenant_id, window.since_ns, window.until_ns)
        return Usage(
            tenant_id,
            [
                UsageDay(r["day"], int(r["spans"]), float(r["gpu_seconds"]), float(r["cost_usd"]))
                for r in rows
            ],
        )

    @delete("/{tenant_id:str}/keys/{prefix:str}", sync_to_thread=True, status_code=204)
    def revoke_key(
        self, backend: NamedDependency[Backend], tenant_id: FromPath[str], prefix: FromPath[str]
    ) -> None:
        """Revoke a key: it stops working at once."""
        if backend.tenants.tenant(tenant_id) is None or not backend.tenants.revoke_key(
            tenant_id, prefix
        ):
            raise NotFoundProblem(f"no active key {prefix}")


def _existing(backend: Backend, tenant_id: str) -> None:
    if backend.tenants.tenant(tenant_id) is None:
        raise NotFoundProblem(f"no tenant {tenant_id}")
