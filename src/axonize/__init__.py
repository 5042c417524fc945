"""Axonize: zero-code tracing for model inference over OpenTelemetry.

    import axonize
    axonize.init(service_name="my-llm-service", endpoint="http://localhost:4317")

    with axonize.llm_span(model="llama-3-8b") as s:
        s.set_tokens_input(12)
        for token in generate():
            s.record_token()

This package only re-exports; the code lives in ``axonize_core``.
"""

from __future__ import annotations

from axonize_core import (
    LlmSpan,
    Span,
    SpanKind,
    SpanStatus,
    TraceContext,
    __version__,
    attach,
    context,
    current_span,
    flush,
    init,
    llm_span,
    shutdown,
    span,
    stats,
    trace,
)
from axonize_core.owner import owner

__all__ = [
    "AxonizeSpanProcessor",
    "LlmSpan",
    "Span",
    "SpanKind",
    "SpanStatus",
    "TraceContext",
    "__version__",
    "attach",
    "context",
    "current_span",
    "flush",
    "init",
    "llm_span",
    "owner",
    "shutdown",
    "span",
    "stats",
    "trace",
]


def __getattr__(name: str) -> object:
    # Imported on first use: it pulls in the OTel SDK's tracing module.
    if name == "AxonizeSpanProcessor":
        from axonize_core.otel import AxonizeSpanProcessor

        return AxonizeSpanProcessor
    raise AttributeError(f"module 'axonize' has no attribute {name!r}")
