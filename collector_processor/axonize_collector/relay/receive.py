"""The relay's listeners: OTLP/gRPC and OTLP/HTTP (protobuf or JSON, gzip accepted), and on the
HTTP port ``/healthz`` (``/health``), ``/readyz`` (``/ready``: 503 while a destination's queue
is full) and ``/metrics`` (the relay's counters, Prometheus text).

Answers follow the OTLP spec: a request that cannot be read is ``INVALID_ARGUMENT`` / HTTP 400
with the reason (senders do not retry it); spans with bad ids are refused in a partial success
naming the first reason while the others pass; a full queue is ``UNAVAILABLE`` / HTTP 503 (senders
retry later).
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
import zlib
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_collector.relay.app import Accepted, QueueFull, Relay
from axonize_core.otlp_wire import JSON, PROTOBUF, MalformedOtlp

log = logging.getLogger("axonize.collector")
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def response(result: Accepted) -> Any:
    reply = ts.ExportTraceServiceResponse()
    if result.rejected:
        reply.partial_success.rejected_spans = result.rejected
        reply.partial_success.error_message = result.reason
    return reply


def start_grpc(relay: Relay, host: str, port: int, workers: int = 8) -> tuple[grpc.Server, int]:
    """The OTLP/gRPC listener; returns it and its port (0 picks a free one)."""

    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            return bytes(response(relay.accept(request, PROTOBUF)).SerializeToString())
        except MalformedOtlp as exc:
            relay.stats.add(rejected=1)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except QueueFull as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="relay-grpc"),
        options=[("grpc.max_receive_message_length", relay.settings.max_request_bytes)],
        maximum_concurrent_rpcs=workers * 4)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    server.start()
    return server, bound


def metrics_text(relay: Relay) -> str:
    """The relay's counters in the Prometheus text format."""
    lines = []
    for name, value in relay.stats.snapshot().items():
        unit = "" if name == "retries" else "_spans"
        metric = f"axonize_collector_{name}{unit}_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {value}"]
    lines += ["# TYPE axonize_collector_queued_spans gauge",
              f"axonize_collector_queued_spans {relay.queued_spans()}"]
    for d in relay.destinations():
        label = d.name.replace("\\", "\\\\").replace('"', '\\"')
        lines += [f'axonize_collector_queue_bytes{{destination="{label}"}} {d.queue.bytes}',
                  f'axonize_collector_destination_up{{destination="{label}"}} '
                  f"{int(d.forwarder.up)}"]
    for name, n in relay.pipeline.counts.snapshot()["failed_by"].items():
        lines.append(f'axonize_collector_processor_failures_total{{processor="{name}"}} {n}')
    return "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # a connection that sends nothing for this long is closed
    relay: Relay

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _problem(self, status: int, reason: str, content_type: str = JSON) -> None:
        if content_type == PROTOBUF:  # OTLP/HTTP: a google.rpc.Status; the message is enough
            body = _status_message(reason)
        else:
            content_type = JSON
            body = json.dumps({"code": status, "message": reason}).encode()
        self._send(status, body, content_type)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/health"):
            ups = {d.name: d.forwarder.up for d in self.relay.destinations()}
            body = {"status": "ok", "destinations_up": ups,
                    "queued_spans": self.relay.queued_spans()}
            self._send(200, json.dumps(body).encode(), JSON)
        elif path in ("/readyz", "/ready"):  # ready: every destination's queue takes more
            full = [d.name for d in self.relay.destinations() if d.queue.full()]
            body = {"status": "full" if full else "ok", "full_queues": full}
            self._send(503 if full else 200, json.dumps(body).encode(), JSON)
        elif path == "/metrics":
            self._send(200, metrics_text(self.relay).encode(), "text/plain; version=0.0.4")
        else:
            self._problem(404, f"no such path {path!r}: POST /v1/traces, GET /healthz, "
                               "/readyz, /metrics")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            length = int(self.headers.get("content-length") or -1)
        except ValueError:
            length = -1
        limit = self.relay.settings.max_request_bytes
        if length < 0 or length > limit:
            self.close_connection = True
            self._problem(413 if length > limit else 411,
                          f"body over {limit} bytes" if length > limit
                          else "Content-Length is required")
            return
        raw = self.rfile.read(length)
        if path != "/v1/traces":
            self._problem(404, f"no such path {path!r}: OTLP traces go to /v1/traces")
            return
        if content_type not in (PROTOBUF, JSON):
            self._problem(415, f"content-type {content_type!r} is not OTLP: use "
                               "application/x-protobuf or application/json")
            return
        try:
            body = _inflate(raw, self.headers.get("content-encoding", ""), limit)
            result = self.relay.accept(body, content_type)
        except MalformedOtlp as exc:
            self.relay.stats.add(rejected=1)
            self._problem(400, str(exc), content_type)
            return
        except QueueFull as exc:
            self._problem(503, str(exc), content_type)
            return
        reply = response(result)
        if content_type == PROTOBUF:
            self._send(200, reply.SerializeToString(), PROTOBUF)
        else:
            self._send(200, json_format.MessageToJson(reply).encode() if result.rejected
                       else b"{}", JSON)


def _inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise MalformedOtlp(f"content-encoding {encoding!r} is not accepted: use gzip or none")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error:
        raise MalformedOtlp("body is not valid gzip") from None
    if len(out) > limit or d.unconsumed_tail:
        raise MalformedOtlp(f"decompressed body over {limit} bytes")
    if not d.eof:
        raise MalformedOtlp("body is not valid gzip (truncated)")
    return out


def _status_message(reason: str) -> bytes:
    """A ``google.rpc.Status`` with only its message (field 2), encoded by hand."""
    text = reason.encode("utf-8", "backslashreplace")
    n, prefix = len(text), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        prefix.append(byte | (0x80 if n else 0))
        if not n:
            break
    return b"\x12" + bytes(prefix) + text


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def start_http(relay: Relay, host: str, port: int) -> tuple[http.server.HTTPServer, int]:
    """The OTLP/HTTP listener (with /healthz and /metrics), served from its own thread."""
    handler = type("RelayHandler", (_Handler,), {"relay": relay})
    server = _Server((host, port), handler)
    threading.Thread(target=server.serve_forever, name="relay-http", daemon=True).start()
    return server, int(server.server_address[1])
