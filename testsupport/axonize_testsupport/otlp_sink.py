"""Real OTLP receivers for the tests: a gRPC server and an HTTP server on 127.0.0.1.

They decode what arrives with the official ``opentelemetry-proto`` classes, so a test asserts on
exactly what any OTLP backend would see.
"""

from __future__ import annotations

import gzip
import http.server
import ssl
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

# One decoder of OTLP values: the test kit's (re-exported for the tests that import it here).
from axonize_core._testing import any_value


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trace_requests: list[ts.ExportTraceServiceRequest] = []
        self.metric_requests: list[ms.ExportMetricsServiceRequest] = []
        self.metadata: list[dict[str, str]] = []
        self.attempts = 0
        self.fail_next: list[Any] = []  # status codes (gRPC) or ints (HTTP) to answer first
        self.delay_s = 0.0
        self.arrived = threading.Condition(self.lock)

    # -------------------------------------------------------------- views
    def spans(self) -> list[Any]:
        with self.lock:
            return [s for r in self.trace_requests for rs in r.resource_spans
                    for ss in rs.scope_spans for s in ss.spans]

    def resource_spans(self) -> list[Any]:
        with self.lock:
            return [rs for r in self.trace_requests for rs in r.resource_spans]

    def metrics(self) -> dict[str, Any]:
        """Latest value of each metric by name (the exports are cumulative)."""
        out: dict[str, Any] = {}
        with self.lock:
            for r in self.metric_requests:
                for rm in r.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            out[m.name] = m
        return out

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.spans()
            if len(got) >= n:
                return got
            time.sleep(0.01)
        return self.spans()


class GrpcSink(_Recorder):
    """OTLP/gRPC TraceService and MetricsService on a free loopback port (or ``port``: an
    endpoint that comes back after an outage)."""

    def __init__(self, tls: tuple[bytes, bytes] | None = None, port: int = 0) -> None:
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {
            "Export": grpc.unary_unary_rpc_method_handler(
                self._export_traces,
                request_deserializer=ts.ExportTraceServiceRequest.FromString,
                response_serializer=ts.ExportTraceServiceResponse.SerializeToString,
            )
        }
        metric_handlers = {
            "Export": grpc.unary_unary_rpc_method_handler(
                self._export_metrics,
                request_deserializer=ms.ExportMetricsServiceRequest.FromString,
                response_serializer=ms.ExportMetricsServiceResponse.SerializeToString,
            )
        }
        self.server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", handlers),
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.metrics.v1.MetricsService", metric_handlers),
        ))
        if tls is None:
            self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        else:  # (certificate PEM, key PEM)
            creds = grpc.ssl_server_credentials([(tls[1], tls[0])])
            self.port = self.server.add_secure_port(f"127.0.0.1:{port}", creds)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server.start()

    def _gate(self, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.attempts += 1
            self.metadata.append(dict(context.invocation_metadata()))
            code = self.fail_next.pop(0) if self.fail_next else None
        if self.delay_s:
            # A slow server that stops on an RPC its client gave up (deadline passed): sleeping
            # on would hold one of the 4 workers and queue the retries behind abandoned calls.
            end = time.monotonic() + self.delay_s
            while context.is_active() and (left := end - time.monotonic()) > 0:
                time.sleep(min(left, 0.01))
        if code is not None:
            context.abort(code, "test sink refused this request")

    def _export_traces(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._gate(context)
        with self.lock:
            self.trace_requests.append(request)
        return ts.ExportTraceServiceResponse()

    def _export_metrics(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._gate(context)
        with self.lock:
            self.metric_requests.append(request)
        return ms.ExportMetricsServiceResponse()

    def stop(self) -> None:
        self.server.stop(grace=None)


class HttpSink(_Recorder):
    """OTLP/HTTP (protobuf) on a free loopback port."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with sink.lock:
                    sink.attempts += 1
                    sink.metadata.append({k.lower(): v for k, v in self.headers.items()})
                    status = sink.fail_next.pop(0) if sink.fail_next else 200
                if sink.delay_s:
                    time.sleep(sink.delay_s)
                if status == 200:
                    if self.headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    with sink.lock:
                        if self.path == "/v1/traces":
                            sink.trace_requests.append(
                                ts.ExportTraceServiceRequest.FromString(body))
                        elif self.path == "/v1/metrics":
                            sink.metric_requests.append(
                                ms.ExportMetricsServiceRequest.FromString(body))
                        else:
                            status = 404
                payload = b"" if status == 200 else b"refused by the test sink"
                self.send_response(status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def span_record(span: Any) -> dict[str, Any]:
    """A span as a user-visible record (ids and times replaced by what they mean)."""
    out: dict[str, Any] = {
        "name": span.name,
        "kind": span.kind,
        "attributes": attrs(span.attributes),
        "status": {"code": span.status.code, "message": span.status.message},
    }
    if span.events:
        out["events"] = [{"name": e.name, "attributes": sorted(attrs(e.attributes))}
                         for e in span.events]
    return out


def by_name(spans: list[Any]) -> dict[str, Any]:
    return {s.name: s for s in spans}
