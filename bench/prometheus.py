"""Prometheus: ``metrics_scrape_ms`` (an instrumented process's ``/metrics`` over loopback with
about 1,000 series; and the backend's ``/metrics`` formatting of as many), and
``prometheus_span_ns``: the caller CPU of a span with the process exporter on (and scraped 10
times a second) vs off, in the same run."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request

from bench.measure import Figure
from bench.sizes import Sizes

SERIES = 1_000


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return bytes(r.read())


def _series(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def _init(**kw: object) -> None:
    """As :func:`bench.setups.axonize_idle`, with the GenAI metrics on (what is served)."""
    import axonize

    axonize.init(exporter="none", flush_interval_ms=3_600_000, batch_size=1 << 17,
                 max_queue_size=1 << 17, metrics=True, **kw)


def prometheus(sizes: Sizes) -> list[Figure]:
    import axonize
    from axonize_testsupport.ports import free_port

    trials = max(3, sizes.trials)
    # 1. The process exporter with ~1,000 series: one duration histogram (17 series) per model.
    port = free_port()
    _init(prometheus_port=port)
    url = f"http://127.0.0.1:{port}/metrics"
    models = 0
    while True:
        for _ in range(8):
            with axonize.llm_span(model=f"model-{models}", operation="chat"):
                pass
            models += 1
        axonize.flush(30)
        if _series(_fetch(url)) >= SERIES:
            break
    series = _series(_fetch(url))
    scrape = []
    for _ in range(max(20, trials * 5)):
        t0 = time.perf_counter()
        _fetch(url)
        scrape.append((time.perf_counter() - t0) * 1000)
    axonize.shutdown(10)
    process_ms = statistics.median(scrape)

    # 2. The backend's formatting of as many series (what a scrape costs it, past the HTTP).
    backend_ms, backend_series = _backend_render(trials)

    # 3. span_ns with the exporter on (scraped every 100 ms) vs off, trials alternating.
    on, off = [], []
    n = sizes.n
    for _ in range(trials):
        for side in ("off", "on"):
            stop = threading.Event()
            scraper = None
            if side == "on":
                p = free_port()
                _init(prometheus_port=p)

                def scrape_loop(u: str = f"http://127.0.0.1:{p}/metrics") -> None:
                    while not stop.wait(0.1):
                        _fetch(u)

                scraper = threading.Thread(target=scrape_loop, daemon=True)
                scraper.start()
            else:
                _init()
            span = axonize.span
            for _ in range(min(n, 2000)):  # warm up
                with span("x"):
                    pass
            axonize.flush(60)
            t0 = time.thread_time_ns()
            for _ in range(n):
                with span("x"):
                    pass
            (on if side == "on" else off).append((time.thread_time_ns() - t0) / n)
            stop.set()
            if scraper is not None:
                scraper.join(5)
            axonize.shutdown(10)
    on_ns, off_ns = statistics.median(on), statistics.median(off)
    return [
        Figure("metrics_scrape_ms", "ms", process_ms, backend_ms,
               f"axonize-server /metrics formatting {backend_series:,} series (in process)",
               backend_ms / process_ms if process_ms else float("nan"), "<= 50 ms",
               f"GET /metrics of an instrumented process with {series:,} series, loopback"),
        Figure("prometheus_span_ns", "ns", on_ns, off_ns,
               "span_ns with the exporter off (same run)", off_ns / on_ns if on_ns else 0.0,
               "nothing measurable (ratio ~1)",
               "process exporter on and scraped every 100 ms; trials alternate"),
    ]


def _backend_render(trials: int) -> tuple[float, int]:
    from axonize_backend.prometheus import PromMetrics
    from axonize_core._prometheus import Exposition
    from axonize_testsupport.prometheus import llm_spans_request
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

    prom = PromMetrics(label_limit=10_000)
    spans = [{"gen_ai.operation.name": "chat", "gen_ai.request.model": f"model-{i}",
              "ai.llm.ttft_ms": 20.0, "gen_ai.usage.output_tokens": 10} for i in range(22)]
    req = ts.ExportTraceServiceRequest.FromString(llm_spans_request("svc", spans))
    prom.observe_traces("tenant", req, len(spans))

    def render() -> bytes:
        out = Exposition()
        prom.render(out, None, {})
        return out.render()

    series = _series(render())
    times = []
    for _ in range(max(20, trials * 5)):
        t0 = time.perf_counter()
        render()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), series
