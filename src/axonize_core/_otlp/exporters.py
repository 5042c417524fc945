"""Transports for encoded OTLP payloads: gRPC, HTTP/protobuf, console and JSON-lines file.

Every exporter takes bytes that :mod:`axonize_core._otlp.encode` (spans) or
:mod:`axonize_core._metrics` (metrics) produced, so all of them carry exactly the same data.
They run on the exporter thread only.  Retryable failures are retried with exponential backoff
and jitter until the batch's deadline; then the batch is dropped and counted, so a dead endpoint
costs bounded memory and never blocks the caller.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import IO, Any, Protocol

from axonize_core._config import Config
from axonize_core._log import debug_once, logger

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"

_INITIAL_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 1.0  # back within about a second of the endpoint's return


class Exporter(Protocol):
    """Where encoded batches go.  Each call returns True when the payload was accepted."""

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool: ...

    def export_metrics(self, payload: bytes, deadline: float) -> bool: ...

    def shutdown(self) -> None: ...


class _Attempt:
    """Outcome of one send: accepted, or failed and maybe retryable (after ``delay`` s)."""

    __slots__ = ("delay", "ok", "reason", "retryable")

    def __init__(self, ok: bool, retryable: bool = False, reason: str = "",
                 delay: float | None = None) -> None:
        self.ok = ok
        self.retryable = retryable
        self.reason = reason
        self.delay = delay


def send_with_retry(
    send: Callable[[float], _Attempt], deadline: float, stop: threading.Event, what: str
) -> bool:
    """Call ``send(timeout_s)`` until it succeeds, fails for good, or ``deadline`` passes."""
    backoff = _INITIAL_BACKOFF_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            debug_once(f"deadline-{what}", "axonize: %s export gave up at its deadline", what)
            return False
        try:
            attempt = send(remaining)
        except Exception as exc:  # a transport bug must not kill the exporter thread
            attempt = _Attempt(False, True, f"{type(exc).__name__}: {exc}")
        if attempt.ok:
            return True
        if not attempt.retryable:
            logger.debug("axonize: %s export rejected: %s", what, attempt.reason)
            return False
        delay = attempt.delay if attempt.delay is not None else backoff * random.uniform(0.8, 1.2)
        backoff = min(backoff * 2, _MAX_BACKOFF_S)
        if time.monotonic() + delay >= deadline:
            logger.debug("axonize: %s export failed (%s); deadline reached", what, attempt.reason)
            return False
        logger.debug("axonize: %s export failed (%s); retrying in %.2fs", what, attempt.reason,
                     delay)
        if stop.wait(delay):  # shutting down: one last try happens in the final flush
            return False


# ----------------------------------------------------------------------------- gRPC
class OtlpGrpcExporter:
    """OTLP/gRPC.  Payloads are sent as raw bytes (no re-encoding) on one reused channel."""

    _RETRYABLE = frozenset(
        ("CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "OUT_OF_RANGE",
         "UNAVAILABLE", "DATA_LOSS")
    )

    def __init__(self, cfg: Config, stop: threading.Event) -> None:
        import grpc

        self._grpc = grpc
        endpoint = cfg.resolved_endpoint()
        parsed = urllib.parse.urlparse(endpoint if "://" in endpoint else f"//{endpoint}")
        self.target = parsed.netloc or parsed.path
        self._tls = cfg.use_tls()
        self._certificate = cfg.certificate
        self._metadata = tuple(cfg.request_headers().items())
        self._compression = (grpc.Compression.Gzip if cfg.compression == "gzip"
                             else grpc.Compression.NoCompression)
        self._timeout = cfg.timeout_ms / 1000
        self._stop = stop
        self._channel: Any = None
        self._pid = 0
        self._traces: Any = None
        self._metrics: Any = None

    def _stubs(self) -> tuple[Any, Any]:
        if self._channel is None or self._pid != os.getpid():
            grpc = self._grpc
            # Retries are ours (bounded by the batch deadline); reconnect quickly after an
            # outage instead of gRPC's default backoff of up to two minutes.
            options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                       ("grpc.enable_retries", 0),
                       ("grpc.initial_reconnect_backoff_ms", 250),
                       ("grpc.min_reconnect_backoff_ms", 250),
                       ("grpc.max_reconnect_backoff_ms", 1000)]
            if self._tls:
                roots = None
                if self._certificate:
                    with open(self._certificate, "rb") as fh:
                        roots = fh.read()
                creds = grpc.ssl_channel_credentials(root_certificates=roots)
                self._channel = grpc.secure_channel(self.target, creds, options=options)
            else:
                self._channel = grpc.insecure_channel(self.target, options=options)
            self._pid = os.getpid()
            self._traces = self._channel.unary_unary(TRACES_METHOD)
            self._metrics = self._channel.unary_unary(METRICS_METHOD)
        return self._traces, self._metrics

    def _send(self, method_index: int, payload: bytes, timeout: float) -> _Attempt:
        stub = self._stubs()[method_index]
        try:
            response = stub(payload, timeout=min(timeout, self._timeout),
                            metadata=self._metadata, compression=self._compression)
        except self._grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else ""
            return _Attempt(False, name in self._RETRYABLE, f"{name}: {details}")
        _log_partial_success(response, method_index)
        return _Attempt(True)

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        return send_with_retry(lambda t: self._send(0, payload, t), deadline, self._stop, "trace")

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        return send_with_retry(lambda t: self._send(1, payload, t), deadline, self._stop,
                               "metrics")

    def shutdown(self) -> None:
        if self._channel is not None and self._pid == os.getpid():
            try:
                self._channel.close()
            except Exception:
                pass
        self._channel = None


def _log_partial_success(response: bytes | None, method_index: int) -> None:
    if not response:
        return
    try:
        if method_index == 0:
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as m
            msg: Any = m.ExportTraceServiceResponse.FromString(response)
            rejected = msg.partial_success.rejected_spans
        else:
            from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mm
            msg = mm.ExportMetricsServiceResponse.FromString(response)
            rejected = msg.partial_success.rejected_data_points
        if rejected or msg.partial_success.error_message:
            logger.debug("axonize: endpoint rejected %d items: %s", rejected,
                         msg.partial_success.error_message)
    except Exception:
        pass


# ----------------------------------------------------------------------------- HTTP
class OtlpHttpExporter:
    """OTLP/HTTP with protobuf bodies on a kept-alive connection."""

    _RETRYABLE = frozenset((429, 502, 503, 504))

    def __init__(self, cfg: Config, stop: threading.Event) -> None:
        base = cfg.resolved_endpoint().rstrip("/")
        parsed = urllib.parse.urlparse(base if "://" in base else f"http://{base}")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (443 if self._https else 80)
        path = parsed.path.rstrip("/")
        self._paths = (f"{path}/v1/traces", f"{path}/v1/metrics")
        self._headers = {"content-type": "application/x-protobuf", **cfg.request_headers()}
        self._gzip = cfg.compression == "gzip"
        if self._gzip:
            self._headers["content-encoding"] = "gzip"
        self._timeout = cfg.timeout_ms / 1000
        self._certificate = cfg.certificate
        self._stop = stop
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                import ssl

                ctx = ssl.create_default_context(cafile=self._certificate or None)
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                                         context=ctx)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._conn.timeout = timeout
        return self._conn

    def _send(self, path: str, body: bytes, timeout: float) -> _Attempt:
        conn = self._connection(min(timeout, self._timeout))
        try:
            conn.request("POST", path, body=body, headers=self._headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            return _Attempt(False, True, f"{type(exc).__name__}: {exc}")
        if 200 <= resp.status < 300:
            return _Attempt(True)
        delay: float | None = None
        retry_after = resp.getheader("retry-after")
        if retry_after and retry_after.strip().isdigit():
            delay = float(retry_after.strip())
        reason = f"HTTP {resp.status}: {data[:200].decode('utf-8', 'replace')}"
        return _Attempt(False, resp.status in self._RETRYABLE, reason, delay)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def _body(self, payload: bytes) -> bytes:
        return gzip.compress(payload, compresslevel=6) if self._gzip else payload

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        body = self._body(payload)
        return send_with_retry(lambda t: self._send(self._paths[0], body, t), deadline,
                               self._stop, "trace")

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        body = self._body(payload)
        return send_with_retry(lambda t: self._send(self._paths[1], body, t), deadline,
                               self._stop, "metrics")

    def shutdown(self) -> None:
        self._close()


# ----------------------------------------------------------------------------- JSON helpers
def traces_to_json(payload: bytes) -> dict[str, Any]:
    """OTLP/JSON (the OTel file-exporter format) of an ``ExportTraceServiceRequest``."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    msg = trace_service_pb2.ExportTraceServiceRequest.FromString(payload)
    data: dict[str, Any] = json_format.MessageToDict(msg, use_integers_for_enums=True)
    for rs in data.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for span in ss.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return data


def metrics_to_json(payload: bytes) -> dict[str, Any]:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    msg = metrics_service_pb2.ExportMetricsServiceRequest.FromString(payload)
    out: dict[str, Any] = json_format.MessageToDict(msg, use_integers_for_enums=True)
    return out


def _hex_ids(obj: dict[str, Any]) -> None:
    # protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants lowercase hex ids.
    for key in ("traceId", "spanId", "parentSpanId"):
        if key in obj:
            obj[key] = base64.b64decode(obj[key]).hex()


# ----------------------------------------------------------------------------- file
class FileExporter:
    """Appends one OTLP/JSON request per line (the OTel file-exporter format)."""

    def __init__(self, cfg: Config) -> None:
        self.path = cfg.file_path
        stem, ext = os.path.splitext(self.path)
        self.metrics_path = f"{stem}.metrics{ext or '.jsonl'}"
        self._lock = threading.Lock()

    def _append(self, path: str, obj: dict[str, Any]) -> bool:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        try:
            with self._lock:
                directory = os.path.dirname(path)
                if directory:
                    os.makedirs(directory, exist_ok=True)
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(line)
            return True
        except OSError as exc:
            debug_once(f"file-{path}", "axonize: cannot write %s: %s", path, exc)
            return False

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        return self._append(self.path, traces_to_json(payload))

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        return self._append(self.metrics_path, metrics_to_json(payload))

    def shutdown(self) -> None:
        pass


# ----------------------------------------------------------------------------- console
class ConsoleExporter:
    """One readable line per span on stderr (or the given stream)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        from axonize_core._summary import format_span_line

        stream = self._stream or sys.stderr
        data = traces_to_json(payload)
        for rs in data.get("resourceSpans", ()):
            for ss in rs.get("scopeSpans", ()):
                for span in ss.get("spans", ()):
                    stream.write(format_span_line(span) + "\n")
        stream.flush()
        return True

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class NoneExporter:
    """Discards everything (``exporter="none"``)."""

    def export_traces(self, payload: bytes, count: int, deadline: float) -> bool:
        return True

    def export_metrics(self, payload: bytes, deadline: float) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def make_exporter(cfg: Config, stop: threading.Event) -> Exporter:
    if cfg.exporter == "console":
        return ConsoleExporter()
    if cfg.exporter == "file":
        return FileExporter(cfg)
    if cfg.exporter == "none":
        return NoneExporter()
    if cfg.protocol == "http/protobuf":
        return OtlpHttpExporter(cfg, stop)
    return OtlpGrpcExporter(cfg, stop)
