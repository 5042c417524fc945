"""Who is calling: the tenant of an API key (a dependency) and the admin key (a guard)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler

from axonize_backend.api.problems import ForbiddenProblem, UnauthorizedProblem
from axonize_backend.service import Backend

#: Where the app keeps its :class:`Backend` (``app.state``).
BACKEND = "backend"


def backend_of(state: State) -> Backend:
    backend = state[BACKEND]
    if not isinstance(backend, Backend):
        raise TypeError(f"app.state.{BACKEND} is not a Backend")
    return backend


def provide_backend(state: State) -> Backend:
    """The ``backend`` dependency."""
    return backend_of(state)


def provide_tenant(request: Request[Any, Any, Any], backend: NamedDependency[Backend]) -> str:
    """The ``tenant`` dependency of ingest: the caller's tenant, from its API key
    (``Unauthorized``, a 401, without a valid one)."""
    return backend.tenant_for(backend.key_from_headers(request.headers))


def provide_reader(request: Request[Any, Any, Any], backend: NamedDependency[Backend]) -> str:
    """The ``tenant`` dependency of reads: the caller's tenant, once everything acknowledged
    before this call can be read."""
    tenant = provide_tenant(request, backend)
    backend.wait_loaded()
    return tenant


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let only the admin key through (403 while no admin key is configured)."""
    backend = backend_of(connection.app.state)
    if not backend.config.admin_key:
        raise ForbiddenProblem("admin API disabled: set AXONIZE_ADMIN_KEY")
    if not backend.is_admin(backend.key_from_headers(connection.headers)):
        raise UnauthorizedProblem("admin key required: 'authorization: Bearer <admin key>'")
