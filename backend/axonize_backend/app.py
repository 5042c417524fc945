"""The HTTP side: OTLP/HTTP ingest and the REST API, assembled into one Litestar app.

Each resource has its controller (and wire types) in :mod:`axonize_backend.api`; the
:class:`Backend` is kept in the app's state and injected as ``backend``; errors are RFC 9457
problem details (:mod:`axonize_backend.api.problems`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from axonize_backend import __version__
from axonize_backend.api.admin import AdminController
from axonize_backend.api.analytics import AnalyticsController
from axonize_backend.api.auth import BACKEND, mark_unloaded, provide_backend
from axonize_backend.api.dashboard import STATIC_DIR, dashboard_router
from axonize_backend.api.gpus import GpuController
from axonize_backend.api.health import HealthController
from axonize_backend.api.metrics import MetricsController, prometheus_middleware
from axonize_backend.api.otlp_http import OtlpController
from axonize_backend.api.problems import PROBLEM_DETAILS
from axonize_backend.api.traces import TraceController
from axonize_backend.service import Backend

#: The API's controllers (the dashboard at ``/`` is added beside them).
API = [
    HealthController,
    OtlpController,
    TraceController,
    GpuController,
    AnalyticsController,
    AdminController,
    MetricsController,
]


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(title="Axonize", version=__version__, path="/schema")


def create_app(backend: Backend, static_dir: Path = STATIC_DIR) -> Litestar:
    return Litestar(
        route_handlers=[*API, dashboard_router(static_dir)],
        middleware=[prometheus_middleware],
        state=State({BACKEND: backend}),
        dependencies={"backend": Provide(provide_backend, sync_to_thread=False)},
        plugins=[PROBLEM_DETAILS],
        before_send=[mark_unloaded],
        openapi_config=_openapi(),
        request_max_body_size=backend.config.max_request_bytes,
        debug=False,
    )


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI schema (what ``/schema/openapi.json`` serves), with no store open:
    the dashboard's client types are generated from it."""
    app = Litestar(
        route_handlers=API,
        dependencies={"backend": Provide(provide_backend, sync_to_thread=False)},
        plugins=[PROBLEM_DETAILS],
        openapi_config=_openapi(),
    )
    return app.openapi_schema.to_schema()
