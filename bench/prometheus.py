"""Prometheus: ``metrics_scrape_ms`` (an instrumented process's ``/metrics`` over loopback with
about 1,000 series), ``backend_metrics_scrape_ms`` (axonize-server's, on its embedded stores,
with as many), and
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
    from axonize_testsupport.ports import free_port

    import axonize

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

    # 2. axonize-server's /metrics with as many series (a ClickHouse query and formatting).
    backend_ms, backend_series = _backend_scrape(trials)

    # 3. span_ns with the exporter on (scraped every 100 ms) vs off; each trial measures both,
    # in alternating order, and the figure is the median of the per-trial ratios.
    on, off, ratios = [], [], []
    for trial in range(trials * 2):
        sides = ("off", "on") if trial % 2 == 0 else ("on", "off")
        got = {side: _span_ns(side, sizes.n) for side in sides}
        on.append(got["on"])
        off.append(got["off"])
        ratios.append(got["off"] / got["on"])
    on_ns, off_ns = statistics.median(on), statistics.median(off)
    nan = float("nan")
    return [
        Figure("metrics_scrape_ms", "ms", process_ms, nan, "", nan, "<= 50 ms",
               f"GET /metrics of an instrumented process with {series:,} series, loopback"),
        Figure("backend_metrics_scrape_ms", "ms", backend_ms, nan, "", nan, "<= 50 ms",
               f"GET /metrics of axonize-server (admin key, embedded stores) with "
               f"{backend_series:,} series, loopback"),
        Figure("prometheus_span_ns", "ns", on_ns, off_ns,
               "span_ns with the exporter off (same run)", statistics.median(ratios),
               "nothing measurable (ratio ~1)",
               "process exporter on and scraped every 100 ms; both sides in each trial, "
               "alternating order; ratio: median of the per-trial ratios"),
    ]


def _span_ns(side: str, n: int) -> float:
    """Caller CPU ns of a plain span, the exporter on (and scraped) or off."""
    from axonize_testsupport.ports import free_port

    import axonize

    stop = threading.Event()
    scraper = None
    if side == "on":
        port = free_port()
        _init(prometheus_port=port)

        def scrape_loop(url: str = f"http://127.0.0.1:{port}/metrics") -> None:
            while not stop.wait(0.1):
                _fetch(url)

        scraper = threading.Thread(target=scrape_loop, daemon=True)
        scraper.start()
    else:
        _init()
    try:
        span = axonize.span
        for _ in range(min(n, 2000)):  # warm up
            with span("x"):
                pass
        axonize.flush(60)
        t0 = time.thread_time_ns()
        for _ in range(n):
            with span("x"):
                pass
        return (time.thread_time_ns() - t0) / n
    finally:
        stop.set()
        if scraper is not None:
            scraper.join(5)
        axonize.shutdown(10)


def _backend_scrape(trials: int) -> tuple[float, int]:
    """GET /metrics of axonize-server (in process, embedded stores, admin key) over loopback,
    with about 1,000 series from spans sent over OTLP."""
    import shutil
    import tempfile
    from pathlib import Path

    from axonize_testsupport.backend_server import ADMIN, BackendServer
    from axonize_testsupport.prometheus import llm_spans_request

    data = Path(tempfile.mkdtemp(prefix="axonize-bench-prometheus-"))
    data.chmod(0o711)  # the embedded PostgreSQL runs as another user
    srv = BackendServer(data / "data")
    try:
        _, key = srv.tenant("bench")
        spans = [{"gen_ai.operation.name": "chat", "gen_ai.request.model": f"model-{i}",
                  "ai.llm.ttft_ms": 20.0, "gen_ai.usage.output_tokens": 10}
                 for i in range(22)]
        r = srv.http.post("/v1/traces", content=llm_spans_request("svc", spans), headers={
            "content-type": "application/x-protobuf", "authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        admin = {"authorization": f"Bearer {ADMIN}"}

        def scrape() -> bytes:
            got = srv.http.get("/metrics", headers=admin)
            assert got.status_code == 200, got.text
            return got.content

        series = _series(scrape())
        times = []
        for _ in range(max(20, trials * 5)):
            t0 = time.perf_counter()
            scrape()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), series
    finally:
        srv.stop()
        shutil.rmtree(data, ignore_errors=True)
