"""An endpoint that is down costs bounded memory, every lost span is counted, and export resumes
within about a second of the endpoint's return."""

from __future__ import annotations

import time
import tracemalloc

from axonize_testsupport import free_port
from axonize_testsupport.otlp_sink import GrpcSink

import axonize

BIG = 8192  # bytes of attribute per span: a captured prompt and completion


def _spans(n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        with axonize.span("call", {"ai.llm.prompt": f"{i:08d}" + "x" * BIG}):
            pass


def test_buffered_spans_stay_within_the_byte_budget() -> None:
    port = free_port()  # nothing listens there
    axonize.init(endpoint=f"http://127.0.0.1:{port}", batch_size=64, flush_interval_ms=10,
                 max_retry_ms=50, max_queue_bytes=1 << 20, metrics=False,
                 gpu_profiling=False)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(30):  # 3,000 spans of 8 KiB: 24 MiB if nothing were dropped
            _spans(100)
            time.sleep(0.01)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    stats = axonize.stats()
    assert stats["buffered_spans"] * BIG <= (1 << 20) + 64 * BIG
    assert held < 4 << 20, f"{held / 2**20:.1f} MiB held for buffered spans"
    assert stats["exported_spans"] == 0
    # Every span is accounted for: buffered, dropped, or in the batch being retried (<= 64).
    in_flight = 3000 - stats["buffered_spans"] - stats["dropped_spans"]
    assert 0 <= in_flight <= 64


def test_export_resumes_soon_after_the_endpoint_returns() -> None:
    port = free_port()
    axonize.init(endpoint=f"http://127.0.0.1:{port}", flush_interval_ms=20, metrics=False,
                 gpu_profiling=False)
    _spans(10)
    time.sleep(2.5)  # several failed attempts: the backoff has grown
    sink = GrpcSink(port=port)
    try:
        back = time.monotonic()
        _spans(5, first=100)
        deadline = back + 5.0  # about a second unloaded; this machine may be busy
        wanted = {f"{i:08d}" for i in range(100, 105)}
        names: set[str] = set()
        while time.monotonic() < deadline and not wanted <= names:
            time.sleep(0.05)
            names = {s.attributes[0].value.string_value[:8] for s in sink.spans()}
        assert wanted <= names, "not back within 5 s"
        assert {f"{i:08d}" for i in range(10)} <= names  # the batch held meanwhile, too
    finally:
        axonize.shutdown(2)
        sink.stop()
