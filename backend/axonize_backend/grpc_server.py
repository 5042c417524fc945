"""OTLP/gRPC ingest (TraceService and MetricsService) on the backend's stores.

Requests are taken as raw bytes and parsed once by the shared ingest path.  Status codes follow
the OTLP spec: INVALID_ARGUMENT for a malformed request (not retried by clients),
UNAUTHENTICATED for a bad key, UNAVAILABLE when busy (retried with backoff).
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc

from axonize_backend.errors import BadRequest, Overloaded, Unauthorized
from axonize_backend.listeners import grpc_options
from axonize_backend.service import Backend, metrics_response, trace_response

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"


def _handler(backend: Backend, kind: str) -> Any:
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {k.lower(): v for k, v in context.invocation_metadata()}
        try:
            tenant = backend.tenant_for(backend.key_from_headers(metadata))
            if kind == "traces":
                result = backend.ingest_traces(tenant, request, "application/x-protobuf")
                return bytes(trace_response(result).SerializeToString())
            result = backend.ingest_metrics(tenant, request, "application/x-protobuf")
            return bytes(metrics_response(result).SerializeToString())
        except Unauthorized as exc:
            backend.prom.rejected_request("unauthorized", "grpc")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except BadRequest as exc:
            backend.prom.rejected_request("bad_request", "grpc")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            backend.prom.rejected_request("overloaded", "grpc")
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    return grpc.unary_unary_rpc_method_handler(export)


def start_grpc(
    backend: Backend, host: str, port: int, workers: int = 16
) -> tuple[grpc.Server, int]:
    """Start the OTLP/gRPC server; returns it and the port it bound (0 picks a free one).

    ``workers`` threads run RPCs; up to four times as many wait for one, beyond that a call
    gets ``RESOURCE_EXHAUSTED`` (see :mod:`axonize_backend.listeners` for the other limits).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=grpc_options(backend.config),
        maximum_concurrent_rpcs=workers * 4,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                TRACE_SERVICE, {"Export": _handler(backend, "traces")}
            ),
            grpc.method_handlers_generic_handler(
                METRICS_SERVICE, {"Export": _handler(backend, "metrics")}
            ),
        )
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    server.start()
    return server, bound
