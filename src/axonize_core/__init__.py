"""Axonize core SDK.  The public API is the ``axonize`` package; this one holds the code.

Plugin authors use one module, :mod:`axonize_core.instrumentation` (docs/plugins.md); modules
whose names start with ``_`` are private (``nox -s lint`` checks it).
"""

from __future__ import annotations

from axonize_core._carry import TraceContext, attach, context
from axonize_core._decorators import trace
from axonize_core._runtime import (
    add_export_hook,
    configured,
    flush,
    init,
    remove_export_hook,
    shutdown,
    stats,
)
from axonize_core._span import (
    LlmSpan,
    NoopSpan,
    Span,
    SpanKind,
    SpanStatus,
    current_span,
    llm_span,
    span,
)
from axonize_core._version import __version__

__all__ = [
    "LlmSpan",
    "NoopSpan",
    "Span",
    "SpanKind",
    "SpanStatus",
    "TraceContext",
    "__version__",
    "add_export_hook",
    "attach",
    "configured",
    "context",
    "current_span",
    "flush",
    "init",
    "llm_span",
    "remove_export_hook",
    "shutdown",
    "span",
    "stats",
    "trace",
]
