"""OTLP/HTTP ingest: ``POST /v1/traces`` and ``/v1/metrics``, protobuf or JSON, gzip accepted;
acknowledged once the request is stored (traces: in the ingest log)."""

from __future__ import annotations

import gzip
from typing import Any

from anyio import to_thread
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_backend.api.auth import provide_tenant
from axonize_backend.api.problems import (
    BadRequestProblem,
    ContentTooLargeProblem,
    UnsupportedMediaTypeProblem,
)
from axonize_backend.service import Backend

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def media_type(request: Request[Any, Any, Any]) -> str:
    """The request's content type if it is one OTLP uses (a 415 problem otherwise)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in (PROTOBUF, JSON):
        raise UnsupportedMediaTypeProblem(
            f"content-type {content_type!r} is "
            "not OTLP: use application/x-protobuf or application/json"
        )
    return content_type


async def request_body(request: Request[Any, Any, Any], max_bytes: int) -> bytes:
    """The body, gunzipped if it says so; the limit holds after decompression too."""
    body = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError:
            raise BadRequestProblem("body is not valid gzip") from None
        if len(body) > max_bytes:
            raise ContentTooLargeProblem("decompressed body too large")
    return body


class OtlpController(Controller):
    """OTLP/HTTP: protobuf or JSON, acknowledged once the rows are stored."""

    tags = ["otlp"]
    dependencies = {"tenant": Provide(provide_tenant, sync_to_thread=True)}

    @post("/v1/traces", status_code=200)
    async def traces(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
    ) -> Response[bytes]:
        """OTLP/HTTP traces (ExportTraceServiceRequest)."""
        content_type = media_type(request)
        body = await request_body(request, backend.config.max_request_bytes)
        await to_thread.run_sync(backend.ingest_traces, tenant, body, content_type)
        return _reply(ts.ExportTraceServiceResponse(), content_type)

    @post("/v1/metrics", status_code=200)
    async def metrics(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
    ) -> Response[bytes]:
        """OTLP/HTTP metrics (the ``gpu.*`` gauges are stored)."""
        content_type = media_type(request)
        body = await request_body(request, backend.config.max_request_bytes)
        await to_thread.run_sync(backend.ingest_metrics, tenant, body, content_type)
        return _reply(ms.ExportMetricsServiceResponse(), content_type)


def _reply(message: Any, content_type: str) -> Response[bytes]:
    """The (empty) export response, in the request's encoding."""
    if content_type == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(b"{}", media_type=JSON)
