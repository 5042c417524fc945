"""The process's own Prometheus endpoint (``AXONIZE_PROMETHEUS_PORT``), off by default.

Imported and started by ``init`` only when a port is set: with it off, nothing of this runs.  A
daemon thread serves ``/metrics`` (text 0.0.4, OpenMetrics when the ``Accept`` header asks) from
the GenAI histograms the exporter thread already aggregates (:mod:`axonize_core._metrics`) and
the GPU profiler's latest samples, plus ``/healthz``, ``/health``, ``/readyz`` and ``/ready``.
A scrape copies the figures (a few list copies under the GIL) and formats them on the serving
thread: the instrumented code's spans pay nothing for it.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from axonize_core import semconv as sc
from axonize_core._log import debug_once, logger
from axonize_core._metrics import INSTRUMENTS, GenAiMetrics
from axonize_core._prometheus import Exposition, Labels, wants_openmetrics

#: OTLP histogram -> its Prometheus name (others: derived by :func:`prom_name`).
NAMES = {
    sc.METRIC_OPERATION_DURATION: "axonize_gen_ai_operation_duration_seconds",
    sc.METRIC_TOKEN_USAGE: "axonize_gen_ai_token_usage_tokens",
    sc.METRIC_TIME_TO_FIRST_TOKEN: "axonize_gen_ai_time_to_first_token_seconds",
    sc.METRIC_TIME_PER_OUTPUT_TOKEN: "axonize_gen_ai_time_per_output_token_seconds",
    sc.METRIC_CLIENT_TIME_TO_FIRST_CHUNK: "axonize_gen_ai_client_time_to_first_chunk_seconds",
    sc.METRIC_CLIENT_TIME_PER_OUTPUT_CHUNK:
        "axonize_gen_ai_client_time_per_output_chunk_seconds",
    sc.METRIC_TOKENS_PER_SECOND: "axonize_gen_ai_output_tokens_per_second",
}
#: OTLP attribute -> label name.
LABELS = {
    sc.GEN_AI_OPERATION_NAME: "operation",
    sc.GEN_AI_REQUEST_MODEL: "model",
    sc.GEN_AI_PROVIDER_NAME: "provider",
    sc.GEN_AI_TOKEN_TYPE: "token_type",
    "error.type": "error_type",
}
_UNITS = {"s": "_seconds", "By": "_bytes", "{token}": "_tokens"}

#: GPU sample field -> (Prometheus name, factor to the base unit, kind)
GPU_FIELDS = (
    ("utilization_pct", "axonize_gpu_utilization_ratio", 0.01, "gauge"),
    ("memory_used_bytes", "axonize_gpu_memory_used_bytes", 1.0, "gauge"),
    ("power_w", "axonize_gpu_power_watts", 1.0, "gauge"),
    ("temperature_c", "axonize_gpu_temperature_celsius", 1.0, "gauge"),
    ("energy_j", "axonize_gpu_energy_joules", 1.0, "counter"),
)


def prom_name(otlp_name: str) -> str:
    """The Prometheus name of a GenAI histogram (a new instrument gets a derived one)."""
    known = NAMES.get(otlp_name)
    if known:
        return known
    base = "axonize_" + "".join(c if c.isalnum() else "_" for c in otlp_name)
    suffix = _UNITS.get(INSTRUMENTS[otlp_name][0], "") if otlp_name in INSTRUMENTS else ""
    return base if base.endswith(suffix) else base + suffix


def _label_name(key: str) -> str:
    return LABELS.get(key) or "".join(c if c.isalnum() else "_" for c in key)


def render(metrics: GenAiMetrics | None, openmetrics: bool = False) -> Exposition:
    """The process's series, from ``metrics`` (nothing but the dropped-span counter and the
    GPUs when it is None)."""
    out = Exposition(openmetrics)
    if metrics is None:
        return out
    # A copy under the GIL: the exporter thread may add a series meanwhile.
    items = list(metrics.histograms.items())
    by_name: dict[str, list[tuple[Labels, list[int], float]]] = {}
    bounds: dict[str, Any] = {}
    for (name, key), h in items:
        labels = tuple((_label_name(k), str(v)) for k, v in key)
        by_name.setdefault(name, []).append((labels, list(h.counts), h.sum))
        bounds[name] = h.bounds
    for name in sorted(by_name):
        out.histogram(prom_name(name), bounds[name], sorted(by_name[name]))
    out.scalar("axonize_spans_dropped", "counter", [((), metrics.dropped_spans)])
    gpu = metrics.gpu
    if gpu is not None:
        samples = gpu.gauges()
        ids = [(("gpu_uuid", str(g.compute_resource_id or g.uuid)), ("gpu_name", str(g.name)))
               for g, _ in samples]
        out.scalar("axonize_gpu_memory_total_bytes", "gauge",
                   [(lab, g.memory_total_bytes) for (g, _), lab in zip(samples, ids, strict=True)
                    if g.memory_total_bytes is not None])
        for field, name, factor, kind in GPU_FIELDS:
            rows = []
            for (_, sample), lab in zip(samples, ids, strict=True):
                value = getattr(sample, field)
                if value is not None:
                    rows.append((lab, value * factor))
            out.scalar(name, kind, rows)
    return out


class _Handler(BaseHTTPRequestHandler):
    server_version = "axonize"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                from axonize_core._state import RUNTIME

                proc = RUNTIME.processor
                out = render(proc.metrics if proc is not None else None,
                             wants_openmetrics(self.headers.get("accept", "")))
                self._reply(200, out.render(), out.content_type)
            elif path in ("/healthz", "/health"):
                self._reply(200, b'{"status":"ok"}', "application/json")
            elif path in ("/readyz", "/ready"):
                from axonize_core._state import RUNTIME

                ok = RUNTIME.processor is not None
                body = b'{"status":"ok"}' if ok else b'{"status":"unavailable"}'
                self._reply(200 if ok else 503, body, "application/json")
            else:
                self._reply(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")
        except Exception:
            debug_once("prometheus-scrape", "axonize: prometheus scrape failed", exc_info=True)
            try:
                self._reply(500, b"internal error\n", "text/plain")
            except Exception:
                pass

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log on the program's stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


_lock = threading.Lock()
_current: tuple[_Server, threading.Thread] | None = None


def serve(host: str, port: int) -> int:
    """Start serving on ``host:port`` (replacing a previous server); returns the bound port,
    or 0 when it cannot bind (logged: the program runs on)."""
    global _current
    stop()
    try:
        server = _Server((host, port), _Handler)
    except OSError as exc:
        logger.warning("axonize: Prometheus exporter not started on %s:%d: %s", host, port, exc)
        return 0
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                              name="axonize-prometheus", daemon=True)
    thread.start()
    with _lock:
        _current = (server, thread)
    return int(server.server_address[1])


def stop() -> None:
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        server, thread = current
        server.shutdown()
        server.server_close()
        thread.join(2)


def bound_port() -> int:
    """The port being served (0: none)."""
    with _lock:
        return int(_current[0].server_address[1]) if _current is not None else 0
