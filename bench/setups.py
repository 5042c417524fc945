"""The two sides every caller-cost figure compares, set up the same way: Axonize and the OTel
SDK, each with its exporter idle during a burst, and the span attributes they both set."""

from __future__ import annotations

from typing import Any

ATTRS8: dict[str, str | bool | int | float] = {
    "ai.model.name": "llama-3-8b",
    "ai.llm.tokens.input": 512,
    "ai.llm.tokens.output": 128,
    "ai.llm.ttft_ms": 41.5,
    "ai.llm.tokens_per_second": 87.25,
    "user.id": "user-1234",
    "request.stream": True,
    "http.route": "/v1/chat/completions",
}


def otel_provider(sampler: Any = None, queue: int = 1 << 17) -> tuple[Any, Any]:
    """An OTel SDK TracerProvider whose BatchSpanProcessor holds a whole burst and exports to
    nowhere; returns it and its tracer."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class NullExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    kwargs = {"sampler": sampler} if sampler is not None else {}
    provider = TracerProvider(**kwargs)
    # Exporter idle during the burst, like Axonize's: a long delay and a queue that holds it.
    provider.add_span_processor(BatchSpanProcessor(
        NullExporter(), max_queue_size=queue, schedule_delay_millis=3_600_000,
        max_export_batch_size=queue))
    return provider, provider.get_tracer("bench")


def axonize_idle(**kw: Any) -> None:
    """``axonize.init`` with no exporter and a buffer that holds a whole burst."""
    import axonize

    axonize.init(exporter="none", flush_interval_ms=3_600_000, batch_size=1 << 17,
                 max_queue_size=1 << 17, metrics=False, **kw)
