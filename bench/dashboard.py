"""The dashboard in headless Chromium against ``axonize-server`` in its own process:
``dashboard_trace_render_ms`` (a trace of 2,000 spans, page load to a drawn timeline) and
``dashboard_traces_paint_ms`` (the traces page, page load to a drawn list, with the backend
figures' load of spans stored: 1M in the full run).

Needs Chromium, Playwright and the built dashboard; without them the group prints
``skipped: ...`` with the command that provides them, and measures nothing.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from axonize_testsupport import browser
from axonize_testsupport.dashboard_data import wide_trace

from bench.backend_load import realistic_requests
from bench.backend_server import Server, backend_server, grpc_sender
from bench.measure import Figure
from bench.sizes import Sizes

TRACE_SPANS = 2_000
NAN = float("nan")


def dashboard(sizes: Sizes) -> list[Figure]:
    why = browser.missing()
    if why is not None:
        print(f"  skipped: {why}", file=sys.stderr, flush=True)
        return []
    trials = max(3, min(sizes.api_calls // 10, 21))
    tmp = Path(tempfile.mkdtemp(prefix="axonize-bench-dash-"))
    try:
        with backend_server(tmp / "data") as srv:
            stored = _store(srv, sizes.backend_spans)
            trace_id = _store_wide_trace(srv)
            (render, render_api), (paint, paint_api) = _measure(srv, trace_id, trials)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [
        Figure("dashboard_trace_render_ms", "ms", statistics.median(render), NAN, "", NAN,
               "<= 1,000 ms",
               note=f"a trace of {TRACE_SPANS:,} spans: page load to its Gantt timeline drawn "
                    f"(headless Chromium, median of {trials}; max {max(render):.0f} ms; the "
                    f"API call {statistics.median(render_api):.0f} ms of it)"),
        Figure("dashboard_traces_paint_ms", "ms", statistics.median(paint), NAN, "", NAN,
               "<= 1,000 ms",
               note=f"the traces page with {stored:,} spans stored: page load to the first "
                    f"50 traces drawn (median of {trials}; max {max(paint):.0f} ms; the API "
                    f"call {statistics.median(paint_api):.0f} ms of it)"),
    ]


def _auth(srv: Server) -> dict[str, str]:
    return {"authorization": f"Bearer {srv.key}"}


def _store(srv: Server, n_spans: int) -> int:
    """Send ``n_spans`` spans over 8 gRPC streams; return once they can be queried."""
    print(f"  storing {n_spans:,} spans ...", file=sys.stderr, flush=True)
    bodies = realistic_requests(n_spans)
    with grpc_sender(srv) as send, ThreadPoolExecutor(8) as pool:
        list(pool.map(send, bodies))
    return n_spans


def _store_wide_trace(srv: Server) -> str:
    trace_id, body = wide_trace(TRACE_SPANS)
    r = srv.http.post("/v1/traces", content=body, headers={
        **_auth(srv), "content-type": "application/x-protobuf"})
    r.raise_for_status()
    # An API call answers once everything acknowledged before it is loaded.
    srv.http.get("/api/v1/traces", params={"limit": "1"}, headers=_auth(srv), timeout=600)
    return trace_id


Timings = tuple[list[float], list[float]]  # per trial: page load to drawn, the API call


def _measure(srv: Server, trace_id: str, trials: int) -> tuple[Timings, Timings]:
    """Per trial: ms from navigation start to the timeline drawn, and to the list drawn, each
    with the time its API call took."""
    from playwright.sync_api import sync_playwright

    url = str(srv.http.base_url)
    render: Timings = ([], [])
    paint: Timings = ([], [])
    with sync_playwright() as p:
        chromium = browser.launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        browser.sign_in(page, url, srv.key)  # the key stays in the tab's sessionStorage
        page.goto(f"{url}#/traces/{trace_id}")
        page.wait_for_selector("[data-testid=timeline] .row .bar")  # warm: caches, JIT
        for _ in range(trials):
            _record(render, _load_until(page, "[data-testid=timeline] .row .bar", "/traces/"))
        page.goto(f"{url}#/traces")
        page.wait_for_selector("[data-testid=traces-table] tbody tr")
        for _ in range(trials):
            _record(paint, _load_until(page, "[data-testid=traces-table] tbody tr", "/traces?"))
        chromium.close()
    return render, paint


def _record(into: Timings, measured: tuple[float, float]) -> None:
    into[0].append(measured[0])
    into[1].append(measured[1])


def _load_until(page: Any, selector: str, api: str) -> tuple[float, float]:
    """Reload the page; ms from its navigation start until ``selector`` is drawn, and the
    duration of its API call whose URL holds ``api``."""
    page.reload(wait_until="commit")
    page.wait_for_selector(selector)
    # After the next frame: what was found has been painted.
    drawn = float(page.evaluate(
        "new Promise(r => requestAnimationFrame(() => r(performance.now())))"))
    call = float(page.evaluate(
        "a => Math.max(0, ...performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/api/v1' + a)).map(e => e.duration))", api))
    return drawn, call
