"""Who is calling: the tenant of an API key (a dependency) and the admin key (a guard)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from litestar.types import Message, Scope

from axonize_backend.api.problems import ForbiddenProblem, UnauthorizedProblem
from axonize_backend.service import Backend

#: Where the app keeps its :class:`Backend` (``app.state``).
BACKEND = "backend"
#: A request's state key, and the response header, for a read answered before its loads.
UNLOADED = "axonize_unloaded_bytes"
UNLOADED_HEADER = "Axonize-Unloaded-Bytes"


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
    before this call can be read (or ``read_wait_s`` has passed: see :func:`mark_unloaded`)."""
    tenant = provide_tenant(request, backend)
    wait_for_loads(request, backend)
    return tenant


def wait_for_loads(request: Request[Any, Any, Any], backend: Backend) -> None:
    """Wait for what was acknowledged before this call to be loaded; if the wait ends first,
    the response says how much is still on its way (:func:`mark_unloaded`)."""
    if not backend.wait_loaded():
        request.state[UNLOADED] = backend.log.unloaded_bytes


def mark_unloaded(message: Message, scope: Scope) -> None:
    """The app's ``before_send``: a read answered before everything acknowledged was loaded
    carries ``Axonize-Unloaded-Bytes`` (what the ingest log still holds), so a client can
    tell an incomplete answer from an empty one."""
    if message["type"] == "http.response.start":
        unloaded = scope.get("state", {}).get(UNLOADED)
        if unloaded is not None:
            MutableScopeHeaders.from_message(message)[UNLOADED_HEADER] = str(unloaded)


def admin_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let only the admin key through (403 while no admin key is configured)."""
    backend = backend_of(connection.app.state)
    if not backend.config.admin_key:
        raise ForbiddenProblem("admin API disabled: set AXONIZE_ADMIN_KEY")
    if not backend.is_admin(backend.key_from_headers(connection.headers)):
        raise UnauthorizedProblem("admin key required: 'authorization: Bearer <admin key>'")
