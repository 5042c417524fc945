"""What buffered spans cost in memory, estimated on the exporter thread.

The buffer is bounded in bytes as well as in spans (``max_queue_bytes``): a process whose spans
carry prompts and completions would otherwise hold hundreds of megabytes while its endpoint is
down.  Measuring every span would cost the caller's thread; instead the exporter thread sizes a
few records of each batch it drains and keeps a moving average, from which the buffer's span
limit follows.  The estimate counts what each record owns (the tuple, its integers, its attribute
dict and long strings, its events and LLM fields) and leaves out short strings, which are
usually shared (model names, routes).
"""

from __future__ import annotations

from collections.abc import Sequence
from sys import getsizeof
from typing import Any

_SHARED_STR = 64  # strings up to this length are counted as shared
_SAMPLES = 8  # records sized per batch
_WEIGHT = 0.25  # of a new batch in the moving average


_OTHER_BYTES = 3072  # an OTel SDK ReadableSpan (AxonizeSpanProcessor), as bench measures it


def record_bytes(rec: Any) -> int:
    """Approximate bytes one buffered record keeps alive."""
    if type(rec) is not tuple:
        return _OTHER_BYTES
    n = getsizeof(rec) + sum(getsizeof(rec[i]) for i in (1, 2, 3, 4, 5))
    attrs = rec[7]
    if attrs:
        n += getsizeof(attrs) + _owned(attrs.values())
    events = rec[8]
    if events:
        n += getsizeof(events)
        for ev in events:
            n += getsizeof(ev) + 32
            if ev[2]:
                n += getsizeof(ev[2]) + _owned(ev[2].values())
    if rec[12] is not None:
        n += getsizeof(rec[12])
    return n


def _owned(values: Any) -> int:
    n = 0
    for v in values:
        t = type(v)
        if ((t is str or t is bytes) and len(v) > _SHARED_STR) or t is tuple or t is list:
            n += getsizeof(v)
    return n


class BufferSizer:
    """Moving average of bytes per record, and the span limit a byte budget allows."""

    __slots__ = ("budget", "per_record")

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.per_record = 0.0

    def observe(self, batch: Sequence[Any]) -> None:
        step = max(1, len(batch) // _SAMPLES)
        sizes = [record_bytes(batch[i]) for i in range(0, len(batch), step)]
        if not sizes:
            return
        mean = sum(sizes) / len(sizes)
        self.per_record = mean if not self.per_record else (
            self.per_record + _WEIGHT * (mean - self.per_record))

    def span_limit(self) -> int | None:
        """Spans the budget holds at the current average; None before any batch was seen."""
        if not self.per_record:
            return None
        return int(self.budget // self.per_record)
