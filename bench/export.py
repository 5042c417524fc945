"""End to end: a burst of spans with 8 attributes, from creation until a sink in another
process has them all, Axonize vs the OTel SDK over gRPC (``export_spans_per_s``), and what a
burst loses at default settings (``burst_dropped_spans``)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.counting_sink import CountingSink
from bench.measure import Figure
from bench.setups import ATTRS8
from bench.sizes import Sizes

ROUNDS = 3  # alternating rounds of each side, no compression
GZIP_ROUNDS = 2


def export(sizes: Sizes) -> list[Figure]:
    n = sizes.export_n
    with CountingSink() as sink:
        ax_rates, ot_rates = [], []
        for _ in range(ROUNDS):
            ax_rates.append(_axonize(sink, n, "none", defaults=False)[0])
            ot_rates.append(_otel(sink, n, defaults=False)[0])
        ax_gzip = statistics.median(_axonize(sink, n, "gzip", defaults=False)[0]
                                    for _ in range(GZIP_ROUNDS))
        _, ax_dropped = _axonize(sink, n, "gzip", defaults=True)
        _, ot_dropped = _otel(sink, n, defaults=True)
    ax, ot = statistics.median(ax_rates), statistics.median(ot_rates)
    return [
        Figure("export_spans_per_s", "spans/s", ax, ot,
               "OTel SDK BatchSpanProcessor + OTLPSpanExporter (gRPC), queue sized to the burst",
               ax / ot, ">= 5x", note=f"{n} spans, 8 attributes, no compression on both sides; "
               f"Axonize with its default gzip: {ax_gzip:,.0f} spans/s"),
        Figure("burst_dropped_spans", "spans", ax_dropped, ot_dropped,
               "OTel SDK BatchSpanProcessor at default settings", float("nan"),
               "0 at default settings", note=f"burst of {n} spans, defaults on both sides"),
    ]


def _axonize(sink: CountingSink, n: int, compression: str, defaults: bool) -> tuple[float, int]:
    """Spans/s of one Axonize burst until the sink has them all, and how many never came."""
    import axonize

    sink.reset()
    kw: dict[str, Any] = {} if defaults else {"compression": compression}
    axonize.init(endpoint=sink.endpoint, metrics=False, **kw)
    t0 = time.perf_counter()
    for i in range(n):
        with axonize.span("generate") as s:
            s.set_attributes(ATTRS8)
            s.set_attribute("ai.llm.tokens.input", i)
    axonize.flush(120)
    got = sink.wait_for(n)
    dt = time.perf_counter() - t0
    axonize.shutdown(10)
    return n / dt, n - got


def _otel(sink: CountingSink, n: int, defaults: bool) -> tuple[float, int]:
    """The same with the OTel SDK: a queue sized to the burst, or its default settings."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    sink.reset()
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{sink.port}", insecure=True)
    bsp = BatchSpanProcessor(exporter) if defaults else BatchSpanProcessor(
        exporter, max_queue_size=n * 2)
    provider.add_span_processor(bsp)
    tracer = provider.get_tracer("bench")
    t0 = time.perf_counter()
    for i in range(n):
        with tracer.start_as_current_span("generate") as s:
            s.set_attributes(ATTRS8)
            s.set_attribute("ai.llm.tokens.input", i)
    provider.force_flush(120_000)
    got = sink.wait_for(n, timeout=5 if defaults else 120)
    dt = time.perf_counter() - t0
    provider.shutdown()
    return n / dt, n - got
