"""OTLP/HTTP ingest: ``POST /v1/traces`` and ``/v1/metrics``, protobuf or JSON, gzip accepted;
acknowledged once the request is stored (traces: in the ingest log)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from anyio import to_thread
from google.protobuf import json_format
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide

from axonize_backend.api.auth import provide_tenant
from axonize_backend.api.problems import (
    BadRequestProblem,
    ContentTooLargeProblem,
    UnsupportedMediaTypeProblem,
)
from axonize_backend.service import Backend, IngestResult, metrics_response, trace_response

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
    """The body, gunzipped if it says so, read as it arrives: at most ``max_bytes`` of it is
    ever held, before decompression and after (a larger one is a 413 problem)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip"):
        raise UnsupportedMediaTypeProblem(
            f"content-encoding {encoding!r} is not accepted: use gzip or none"
        )
    inflate = Inflater(max_bytes) if encoding in ("gzip", "x-gzip") else None
    raw = 0
    parts: list[bytes] = []
    async for chunk in request.stream():
        raw += len(chunk)
        if raw > max_bytes:
            raise ContentTooLargeProblem(f"body over {max_bytes} bytes")
        parts.append(inflate.feed(chunk) if inflate else chunk)
    if inflate:
        parts.append(inflate.finish())
    return b"".join(parts)


class Inflater:
    """Streaming gzip decompression (members one after another, as gzip allows) that stops at
    ``max_bytes`` of output."""

    def __init__(self, max_bytes: int) -> None:
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip only
        self._left = max_bytes
        self._max = max_bytes

    def feed(self, data: bytes) -> bytes:
        parts = []
        while data:
            try:
                # At most one byte past the limit: enough to know it is over.
                out = self._zlib.decompress(data, self._left + 1)
            except zlib.error:
                raise BadRequestProblem("body is not valid gzip") from None
            self._left -= len(out)
            if self._left < 0 or self._zlib.unconsumed_tail:
                raise ContentTooLargeProblem(f"decompressed body over {self._max} bytes")
            parts.append(out)
            data = b""
            if self._zlib.eof and self._zlib.unused_data:  # the next member
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return b"".join(parts)

    def finish(self) -> bytes:
        if not self._zlib.eof:
            raise BadRequestProblem("body is not valid gzip (truncated)")
        return b""


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
        return await _export(request, backend.config.max_request_bytes, backend.ingest_traces,
                             tenant, trace_response)

    @post("/v1/metrics", status_code=200)
    async def metrics(
        self,
        request: Request[Any, Any, Any],
        backend: NamedDependency[Backend],
        tenant: NamedDependency[str],
    ) -> Response[bytes]:
        """OTLP/HTTP metrics (the ``gpu.*`` gauges are stored)."""
        return await _export(request, backend.config.max_request_bytes, backend.ingest_metrics,
                             tenant, metrics_response)


async def _export(request: Request[Any, Any, Any], max_bytes: int,
                  ingest: Callable[[str, bytes, str], IngestResult], tenant: str,
                  respond: Callable[[IngestResult], Any]) -> Response[bytes]:
    """Read the body (bounded), ingest it off the event loop, answer in the request's encoding."""
    content_type = media_type(request)
    body = await request_body(request, max_bytes)
    result = await to_thread.run_sync(ingest, tenant, body, content_type)
    return _reply(respond(result), content_type)


def _reply(message: Any, content_type: str) -> Response[bytes]:
    """The export response (empty, or a partial success), in the request's encoding."""
    if content_type == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    if not message.ByteSize():
        return Response(b"{}", media_type=JSON)
    return Response(json_format.MessageToJson(message).encode(), media_type=JSON)
