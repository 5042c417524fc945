"""The backend on its embedded stores, in its own process: ingest rate over OTLP/gRPC
(``ingest_spans_per_s``), bytes on disk per span (``storage_bytes_per_span``), and API latency
with the spans stored (``api_p99_ms``)."""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.backend_load import realistic_requests
from bench.backend_server import Server, backend_server, grpc_sender
from bench.measure import Figure
from bench.setups import ATTRS8
from bench.sizes import Sizes

PER_REQUEST = 512  # spans per request; the first request warms the server up


def backend(sizes: Sizes) -> list[Figure]:
    n_spans, n_ref, api_calls = sizes.backend_spans, sizes.backend_ref_spans, sizes.api_calls
    tmp = Path(tempfile.mkdtemp(prefix="axonize-bench-"))
    try:
        data = tmp / "data"
        with backend_server(data) as srv:
            ingest, acked = _ingest(srv, n_spans)
            reference = _reference(srv, n_ref)
            # Loaded before the API is timed (a call waits for what was acknowledged before it).
            srv.http.get("/api/v1/traces", params={"limit": "1"}, headers=_auth(srv),
                         timeout=600)
            lat = _api_latency(srv, api_calls)
        on_disk, stored_rows = _spans_on_disk(data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stored = n_spans + n_ref
    p99 = {k: sorted(v)[max(0, int(len(v) * 0.99) - 1)] for k, v in lat.items()}
    p50 = {k: statistics.median(v) for k, v in lat.items()}
    return [
        Figure("ingest_spans_per_s", "spans/s", ingest, reference,
               "one OTel SDK process (BatchSpanProcessor + OTLPSpanExporter) sending to it",
               ingest / reference, ">= 50,000 spans/s",
               note=f"{n_spans:,} spans with 8 attributes in 512-span requests over 8 gRPC "
                    "streams into the embedded stores, timed until all can be queried "
                    f"(acknowledged, i.e. in the ingest log, at {acked:,.0f}/s)"),
        Figure("storage_bytes_per_span", "B", on_disk / stored_rows, float("nan"), "",
               float("nan"), "<= 100 B",
               note=f"spans table on disk after merging / {stored_rows:,} spans stored"),
        Figure("api_p99_ms", "ms", max(p99.values()), float("nan"), "", float("nan"),
               "<= 50 ms", note=f"{stored:,} spans stored: list-traces p50 {p50['traces']:.1f} / "
                                f"p99 {p99['traces']:.1f} ms, analytics overview p50 "
                                f"{p50['overview']:.1f} / p99 {p99['overview']:.1f} ms, "
                                f"{api_calls} calls each over HTTP"),
    ]


def _auth(srv: Server) -> dict[str, str]:
    return {"authorization": f"Bearer {srv.key}"}


def _ingest(srv: Server, n_spans: int) -> tuple[float, float]:
    """Spans/s until all can be queried, and until all are acknowledged, over 8 gRPC streams."""
    print(f"  building {n_spans:,} spans ...", file=sys.stderr, flush=True)
    bodies = realistic_requests(n_spans, PER_REQUEST)
    with grpc_sender(srv) as send:
        return _timed_ingest(srv, n_spans, bodies, send)


def _timed_ingest(srv: Server, n_spans: int, bodies: list[bytes],
                  send: Callable[[bytes], None]) -> tuple[float, float]:
    send(bodies[0])  # warm up
    print("  sending over 8 gRPC streams ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, bodies[1:]))
    acked_s = time.perf_counter() - t0
    # Sustained means stored: an API call answers once everything acknowledged is loaded
    # into ClickHouse, so the clock stops when the spans can be queried.
    assert srv.http.get("/api/v1/traces", params={"limit": "1"}, headers=_auth(srv),
                        timeout=600).status_code == 200
    ingest = (n_spans - PER_REQUEST) / (time.perf_counter() - t0)
    return ingest, (n_spans - PER_REQUEST) / acked_s


def _reference(srv: Server, n_ref: int) -> float:
    """The load's reference: spans/s one OTel SDK process (BatchSpanProcessor +
    OTLPSpanExporter) pushes into the same server, 8 attributes per span."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"127.0.0.1:{srv.grpc_port}", insecure=True,
        headers=(("authorization", f"Bearer {srv.key}"),)),
        max_queue_size=1 << 16, max_export_batch_size=512))
    tracer = provider.get_tracer("bench")
    t0 = time.perf_counter()
    for _ in range(n_ref):
        with tracer.start_as_current_span("generate") as sp:
            sp.set_attributes(ATTRS8)
    provider.force_flush(120_000)
    reference = n_ref / (time.perf_counter() - t0)
    provider.shutdown()
    return reference


def _api_latency(srv: Server, api_calls: int) -> dict[str, list[float]]:
    """Milliseconds per call of list-traces and the analytics overview, alternating."""
    headers = _auth(srv)
    since = str(time.time_ns() - 2 * 3600 * 10**9)
    lat: dict[str, list[float]] = {"traces": [], "overview": []}
    for i in range(api_calls):
        for name, path, params in (
                ("traces", "/api/v1/traces", {"since": since, "limit": "50",
                                              **({"model": "mistral-7b"} if i % 2 else {})}),
                ("overview", "/api/v1/analytics/overview", {"since": since})):
            t0 = time.perf_counter()
            r = srv.http.get(path, params=params, headers=headers)
            lat[name].append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
    return lat


def _spans_on_disk(data: Path) -> tuple[int, int]:
    """Bytes on disk of the spans table once merged, and its rows, read with chDB from the
    stopped server's files."""
    from chdb import session

    db: Any = session.Session(str(data / "clickhouse"))  # type: ignore[no-untyped-call]
    db.query("OPTIMIZE TABLE axonize.spans FINAL")
    parts = json.loads(db.query(
        "SELECT sum(bytes_on_disk) AS b, sum(rows) AS r FROM system.parts "
        "WHERE active AND database = 'axonize' AND table = 'spans'", "JSON").bytes())["data"][0]
    db.close()
    return int(parts["b"]), int(parts["r"])
