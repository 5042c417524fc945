"""A stand-in for the caller's streamer inside ``generate``: it times the first token and holds
the end of the stream back until the ``generate`` span has ended.

``generate`` hands a streamer ``put(prompt ids)`` first, then one ``put`` per decoding step,
then ``end()``.  The first token is timed when its ``put`` has returned, that is when the token
has reached the caller's streamer (a ``TextIteratorStreamer``'s queue).  ``end()`` reaches the
caller's streamer only after the span has ended: a handler that reads the streamer to its end
then always sees its own span end after the ``generate`` span.
"""

from __future__ import annotations

from typing import Any

from axonize_core.instrumentation import LlmSpan, log_internal_error


class StreamerTap:
    """Forwards every call to the caller's streamer (other attributes included)."""

    __slots__ = ("_end_requested", "_inner", "_puts", "_span")

    def __init__(self, inner: Any, span: LlmSpan) -> None:
        self._inner = inner
        self._span = span
        self._puts = 0
        self._end_requested = False

    def put(self, value: Any) -> None:
        self._inner.put(value)
        puts = self._puts
        self._puts = puts + 1
        if puts == 1:  # the first put holds the prompt; the second the first new token
            try:
                self._span.set_first_token_time()
            except Exception:
                log_internal_error("hf-streamer-put", "axonize: could not time a streamed token")

    def end(self) -> None:
        self._end_requested = True

    def release(self) -> None:
        """End the caller's stream if ``generate`` ended it (call after the span has ended)."""
        if self._end_requested:
            self._end_requested = False
            self._inner.end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
