"""Sending queued requests to a destination, with retries.

A destination is an OTLP endpoint: ``grpc://host:port`` (or ``grpcs://``) for OTLP/gRPC,
``http://host:port/v1/traces`` (or ``https://``) for OTLP/HTTP protobuf; an http URL with no path
gets ``/v1/traces``.  One thread per destination takes the oldest queued requests (several at
once: concatenated protobuf messages are one message whose repeated fields hold them all),
sends them, and deletes them once acknowledged.  A failure that may pass (unreachable,
``UNAVAILABLE``, HTTP 429/502/503/504, a timeout) is retried with exponential backoff, for as long
as it takes; a refusal that will not pass (a 4xx, ``INVALID_ARGUMENT``) is logged and counted, and
the requests are let go so that they do not block the ones behind them (a batch that fails is
sent again one request at a time, so only the refused request is let go). A wrong key or path
(401, 403, 404, ``UNAUTHENTICATED``, ``PERMISSION_DENIED``, ...) is retried like an outage: the
spans wait in the queue until the configuration is fixed.
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.parse
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

from axonize_collector.relay.queue import DiskQueue

log = logging.getLogger("axonize.collector.forward")
TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# Besides what OTLP calls retryable, a wrong key or path is retried too: it is the relay's
# configuration, and the queue keeps the spans until it is fixed (logged at each outage).
RETRYABLE_GRPC = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                  grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
                  grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                  grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED,
                  grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED,
                  grpc.StatusCode.NOT_FOUND)
RETRYABLE_HTTP = (401, 403, 404, 408, 429, 500, 502, 503, 504)
MAX_SEND_BYTES = 3 * 2**20  # under the 4 MiB a gRPC server takes by default


class Retry(Exception):
    """The send failed in a way that may pass."""


class Refused(Exception):
    """The destination refused the request for good."""


class GrpcSender:
    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        u = urllib.parse.urlsplit(url)
        target = u.netloc
        opts = [("grpc.max_send_message_length", 64 * 2**20)]
        if u.scheme == "grpcs":
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), opts)
        else:
            self.channel = grpc.insecure_channel(target, opts)
        self.call = self.channel.unary_unary(TRACE_METHOD, None, None)  # bytes in, bytes out
        self.metadata = tuple((k.lower(), v) for k, v in headers.items())
        self.timeout_s = timeout_s

    def send(self, body: bytes) -> int:
        """Send; returns the spans the destination said it rejected."""
        try:
            reply = self.call(body, timeout=self.timeout_s, metadata=self.metadata)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            if code in RETRYABLE_GRPC:
                raise Retry(f"{code.name}: {exc.details() if hasattr(exc, 'details') else ''}"
                            ) from None
            raise Refused(f"{code.name}: {exc.details() if hasattr(exc, 'details') else ''}"
                          ) from None
        return _rejected(reply)

    def close(self) -> None:
        self.channel.close()


class HttpSender:
    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        u = urllib.parse.urlsplit(url)
        self.https = u.scheme == "https"
        self.netloc = u.netloc
        self.path = u.path if u.path not in ("", "/") else "/v1/traces"
        self.headers = {"Content-Type": "application/x-protobuf", **headers}
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.netloc, timeout=self.timeout_s)
        return self._conn

    def send(self, body: bytes) -> int:
        try:
            conn = self._connection()
            conn.request("POST", self.path, body, self.headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Retry(f"{type(exc).__name__}: {exc}") from None
        if resp.status in RETRYABLE_HTTP:
            raise Retry(f"HTTP {resp.status}")
        if resp.status >= 300:
            raise Refused(f"HTTP {resp.status}: {data[:300]!r}")
        if resp.getheader("content-type", "").startswith("application/x-protobuf"):
            return _rejected(data)
        return 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _rejected(reply: bytes) -> int:
    try:
        msg = ts.ExportTraceServiceResponse.FromString(reply)
    except Exception:
        return 0
    return int(msg.partial_success.rejected_spans)


def sender(url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> Any:
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("grpc", "grpcs"):
        return GrpcSender(url, headers or {}, timeout_s)
    if scheme in ("http", "https"):
        return HttpSender(url, headers or {}, timeout_s)
    raise ValueError(f"destination {url!r}: use grpc://, grpcs://, http:// or https://")


class Forwarder:
    """The thread that empties one destination's queue."""

    def __init__(self, name: str, queue: DiskQueue, send: Any, stats: Any,
                 retry_initial_s: float = 0.2, retry_max_s: float = 30.0) -> None:
        self.name = name
        self.queue = queue
        self.sender = send
        self.stats = stats
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.up = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"forward-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        backoff = self.retry_initial_s
        single = False  # after a batch failed: one request at a time until one goes through
        while not self._stop.is_set():
            entries = self.queue.peek(0 if single else MAX_SEND_BYTES, timeout=0.5)
            if not entries:
                continue
            try:
                body = b"".join(self.queue.read(e[0]) for e in entries)
                rejected = self.sender.send(body)
            except Retry as exc:
                if self.up:
                    log.warning("destination %s unavailable (%s): keeping %d queued requests",
                                self.name, exc, len(self.queue))
                self.up = False
                single = len(entries) > 1  # a batch too large for it, perhaps
                self.stats.add(retries=1)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                continue
            except Refused as exc:
                if len(entries) > 1:  # find the one it refuses; send the others
                    single = True
                    continue
                spans = sum(e[2] for e in entries)
                log.error("destination %s refused %d spans for good: %s", self.name, spans, exc)
                self.stats.add(refused=spans)
                self.queue.done(entries)
                continue
            except Exception:
                log.exception("sending to %s", self.name)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                continue
            if not self.up:
                log.warning("destination %s is back", self.name)
            self.up = True
            single = False
            backoff = self.retry_initial_s
            spans = sum(e[2] for e in entries)
            self.queue.done(entries)
            self.stats.add(forwarded=spans - rejected, refused=rejected)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.queue.wake()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        self.sender.close()
