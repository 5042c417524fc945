"""A faster drop-in for the OTel SDK's ``BatchSpanProcessor``.

``tracer_provider.add_span_processor(AxonizeSpanProcessor())`` sends the OTel SDK's spans
through Axonize's pipeline: a lock-free ring buffer on the caller's thread, the hand-written
OTLP encoder and the same exporters (settings as for ``axonize.init``, e.g. ``endpoint=``).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan

from axonize_core._config import load_config
from axonize_core._otlp.encode import TraceEncoder
from axonize_core._otlp.exporters import Exporter
from axonize_core._processor import BatchProcessor
from axonize_core._version import __version__


class AxonizeSpanProcessor(SpanProcessor):
    """Batches finished OTel SDK spans and exports them over OTLP off the caller's thread."""

    def __init__(self, exporter: Exporter | None = None, **settings: Any) -> None:
        cfg = load_config(**settings)
        encoder = TraceEncoder({}, "axonize", __version__, "axonize")
        self._processor = BatchProcessor(
            cfg, encoder.encode_readable, cfg.resource(), exporter=exporter,
            name="axonize-otel-exporter",
        )

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.context.trace_flags.sampled:
            self._processor.buffer.push(span)

    def shutdown(self) -> None:
        self._processor.shutdown(self._processor._cfg.shutdown_timeout_ms / 1000)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.flush(timeout_millis / 1000)

    @property
    def dropped_spans(self) -> int:
        return self._processor.dropped_spans
