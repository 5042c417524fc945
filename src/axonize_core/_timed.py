"""Spans whose times were measured elsewhere: an inference engine's own timestamps.

A serving engine (vLLM) stamps each request as it arrives, is scheduled, yields its first token
and finishes, on its own clock and often in another process.  The span of such a request is made
after the fact: :func:`emit_span` gives it its identity (a child of the given parent, or of the
current span) and pushes it with the start and end it is told, so the trace shows when things
happened in the engine rather than when the plugin heard about them.
"""

from __future__ import annotations

from axonize_core import _span
from axonize_core._span import PIPELINE, Span


def emit_span(span: Span, start_ns: int, end_ns: int, parent: Span | None = None,
              exc: BaseException | None = None) -> bool:
    """Record ``span`` as having run from ``start_ns`` to ``end_ns`` (``time.time_ns`` clock).

    ``parent``: the span it belongs under (default: the current span).  ``exc`` marks it failed.
    Returns whether it was recorded (False when not tracing, or sampled out with its parent).
    An ``LlmSpan``'s first-token time (``set_first_token_time``) is set before the call.
    """
    if parent is not None:
        if not parent.sampled:
            return False
        span.trace_id = parent.trace_id
        span.parent_span_id = parent.span_id
        span.span_id = _span._getrandbits(64)
        span.sampled = True
    else:
        span.start()
    if not span.sampled or span.end_ns:
        return False
    if exc is not None:
        span._fail(exc)
    span.start_ns = start_ns
    span.end_ns = max(start_ns, end_ns)
    PIPELINE.sink.push(span.record())
    return True
