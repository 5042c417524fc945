"""``GET /metrics`` for Prometheus, and the middleware that times the API and counts refusals.

A scrape needs a key: a tenant's key sees that tenant's series, the admin key every tenant's
and the server's own (``axonize_server_*``); no key, or an unknown one, is a 401.  The text
format 0.0.4 by default, OpenMetrics 1.0 when the ``Accept`` header asks for it.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from axonize_backend import errors
from axonize_backend.api.auth import backend_of
from axonize_backend.api.problems import UnauthorizedProblem
from axonize_backend.prometheus import genai_sql, widest_sql
from axonize_backend.service import Backend
from axonize_core._prometheus import Exposition, wants_openmetrics

REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
           405: "bad_request", 413: "too_large", 415: "unsupported_media_type",
           422: "bad_request", 429: "overloaded", 503: "overloaded"}


def scrape_scope(backend: Backend, headers: Any) -> str | None:
    """Whose series a scrape may see: every tenant's (None) for the admin key, the tenant's
    own for its key; 401 otherwise."""
    key = backend.key_from_headers(headers)
    if backend.is_admin(key):
        return None
    tenant = backend.tenants.authenticate(key) if key else None
    if tenant is None:
        raise UnauthorizedProblem(
            "scraping needs a key: 'authorization: Bearer <tenant or admin key>'")
    return tenant


def render_metrics(backend: Backend, tenant: str | None, openmetrics: bool) -> Exposition:
    """One scrape: the GenAI rows from ClickHouse (once what was acknowledged is loaded, a
    second at most), the rest from memory."""
    backend.wait_loaded(1.0)
    spans = backend.spans
    params: dict[str, object] = {"limit": backend.prom.label_limit}
    if tenant is not None:
        params["tenant"] = tenant
    one = tenant is not None
    widest = spans.transport.query(widest_sql(spans.db, one), params)
    fold = bool(widest) and int(widest[0]["n"]) > backend.prom.label_limit
    genai = spans.transport.query(genai_sql(spans.db, one, fold), params)
    out = Exposition(openmetrics)
    server = {
        "refused_spans": backend.refused_spans,
        "backlog_bytes": backend.log.unloaded_bytes,
        "quarantined": backend.log.quarantined,
    }
    backend.prom.render(out, tenant, genai, server)
    return out


class MetricsController(Controller):
    tags = ["metrics"]

    @get("/metrics", sync_to_thread=True)
    def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus scrape (text 0.0.4, or OpenMetrics when the Accept header asks)."""
        backend = backend_of(request.app.state)
        tenant = scrape_scope(backend, request.headers)  # off the event loop: it may query
        out = render_metrics(backend, tenant, wants_openmetrics(request.headers.get("accept", "")))
        return Response(out.render(), media_type=out.content_type)


def _status_of(exc: BaseException) -> int:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(exc, errors.Unauthorized):
        return 401
    if isinstance(exc, errors.BadRequest):
        return 400
    if isinstance(exc, errors.Overloaded):
        return 503
    return 500


def prometheus_middleware(app: ASGIApp) -> ASGIApp:
    """Time each HTTP request by route template; count refused requests by reason."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await app(scope, receive, sending)
        except BaseException as exc:
            status = _status_of(exc)
            raise
        finally:
            backend = backend_of(scope["app"].state)
            route = scope.get("path_template") or "unmatched"
            backend.prom.api_latency(str(scope.get("method", "")), route, status,
                                     time.perf_counter() - start)
            if status >= 400:
                backend.prom.rejected_request(REASONS.get(status, "other"), "http")

    return middleware
