"""Caller costs: CPU of the calling thread for a span, a token, a sampled-out root span, and
the memory a buffered span holds, each against the OTel SDK in the same process."""

from __future__ import annotations

import gc
import statistics
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench.measure import Figure, caller_ns, paired_ns
from bench.setups import ATTRS8, axonize_idle, otel_provider
from bench.sizes import Sizes


def span(sizes: Sizes) -> list[Figure]:
    """``span_ns`` and ``span_8attrs_ns``: a span's CPU, alone and with 8 attributes."""
    import axonize

    trials, n = sizes.trials, sizes.n
    axonize_idle()
    provider, tracer = otel_provider()
    ax_span = axonize.span
    start = tracer.start_as_current_span
    items = list(ATTRS8.items())

    def ax_plain(k: int) -> None:
        for _ in range(k):
            with ax_span("x"):
                pass

    def ot_plain(k: int) -> None:
        for _ in range(k):
            with start("x"):
                pass

    def ax_attrs(k: int) -> None:
        for _ in range(k):
            with ax_span("x") as s:
                for key, v in items:
                    s.set_attribute(key, v)

    def ot_attrs(k: int) -> None:
        for _ in range(k):
            with start("x") as s:
                for key, v in items:
                    s.set_attribute(key, v)

    def flush() -> None:
        axonize.flush(60)

    def oflush() -> None:
        provider.force_flush(60_000)

    ax1, ot1, r1 = paired_ns(ax_plain, flush, ot_plain, oflush, n, trials)
    ax8, ot8, r8 = paired_ns(ax_attrs, flush, ot_attrs, oflush, n, trials)
    axonize.shutdown(10)
    provider.shutdown()
    base = "OTel SDK start_as_current_span + BatchSpanProcessor"
    return [
        Figure("span_ns", "ns", ax1, ot1, base, r1, "<= 1000 ns, >= 10x"),
        Figure("span_8attrs_ns", "ns", ax8, ot8, base + " (same 8 attributes)", r8,
               "<= 2500 ns, >= 10x"),
    ]


def record_token(sizes: Sizes) -> list[Figure]:
    """``record_token_ns``: one streamed token on an open LLM span vs an OTel span event."""
    import axonize

    trials, n = sizes.trials, sizes.n
    axonize_idle()
    s: Any = axonize.llm_span(model="m").start()  # an LlmSpan, typed as its base
    ax = caller_ns(lambda k: [s.record_token() for _ in range(k)], n * 5, trials, lambda: None)
    s.end()
    axonize.shutdown(10)
    provider, tracer = otel_provider()
    o = tracer.start_span("x")
    ot = caller_ns(lambda k: [o.add_event("gen_ai.token") for _ in range(k)], n, trials,
                   lambda: None)
    o.end()
    provider.shutdown()
    # list-comprehension overhead is in both; report it so the figure is honest
    empty = caller_ns(lambda k: [None for _ in range(k)], n * 5, trials, lambda: None)
    return [Figure("record_token_ns", "ns", ax, ot, "OTel SDK span.add_event per token",
                   ot / ax, "<= 100 ns", note=f"includes ~{empty:.0f} ns of loop")]


def sampled(sizes: Sizes) -> list[Figure]:
    """``sampled_span_ns@RATE``: a root span with 1 attribute under head sampling."""
    return [_sampled_at(rate, sizes.trials, sizes.n) for rate in (0.01, 0.1)]


def _sampled_at(rate: float, trials: int, n: int) -> Figure:
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    import axonize

    axonize_idle(sample_rate=rate)
    provider, tracer = otel_provider(ParentBased(TraceIdRatioBased(rate)))
    ax_span = axonize.span
    start = tracer.start_as_current_span

    def ax_burst(k: int) -> None:
        for _ in range(k):
            with ax_span("x") as sp:
                sp.set_attribute("k", 1)

    def ot_burst(k: int) -> None:
        for _ in range(k):
            with start("x") as sp:
                sp.set_attribute("k", 1)

    ax, ot, ratio = paired_ns(ax_burst, lambda: axonize.flush(60), ot_burst,
                              lambda: provider.force_flush(60_000), n, trials)
    axonize.shutdown(10)
    provider.shutdown()
    return Figure(f"sampled_span_ns@{rate}", "ns", ax, ot,
                  f"OTel SDK ParentBased(TraceIdRatioBased({rate}))", ratio,
                  "what a root span costs at this rate, 1 attribute")


def memory(sizes: Sizes) -> list[Figure]:
    """``buffered_bytes_per_span``: what a finished span with 8 attributes holds while it waits
    for export (tracemalloc, after a GC)."""
    import axonize

    n = sizes.memory_n

    def measure(make: Callable[[int], None], cleanup: Callable[[], object]) -> float:
        samples = []
        for _ in range(max(3, sizes.memory_trials // 2)):
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            make(n)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            samples.append((after - before) / n)
            cleanup()
        return statistics.median(samples)

    def ax_make(k: int) -> None:
        for i in range(k):
            with axonize.span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)

    axonize_idle()
    ax = measure(ax_make, lambda: axonize.flush(60))
    axonize.shutdown(10)
    provider, tracer = otel_provider()

    def ot_make(k: int) -> None:
        for i in range(k):
            with tracer.start_as_current_span("generate") as s:
                s.set_attributes(ATTRS8)
                s.set_attribute("ai.llm.tokens.input", i)

    ot = measure(ot_make, lambda: provider.force_flush(60_000))
    provider.shutdown()
    return [Figure("buffered_bytes_per_span", "B", ax, ot,
                   "OTel SDK ReadableSpan in BatchSpanProcessor's queue", ot / ax,
                   "<= 1024 B (8 attributes)")]
