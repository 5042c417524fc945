"""The bounded buffer between the caller's thread and the exporter thread."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any


class RingBuffer:
    """A bounded FIFO of finished spans: no lock, drop-oldest, dropped spans counted.

    Bounded twice: ``capacity`` spans (the deque's own limit), and ``limit`` spans, which the
    consumer lowers to what its byte budget allows for the spans it sees (``set_byte_budget``)
    and which the slow path enforces.

    ``push`` is called on the caller's thread.  ``deque.append`` and ``deque.popleft`` are atomic
    under the GIL, and a full ``deque(maxlen=N)`` discards its oldest item itself, so the caller
    never waits.  When ``wake_at`` items are waiting the consumer is woken once (one event set per
    batch, amortized to nothing per span).  ``dropped`` is exact with one producer thread and may
    undercount by a few under heavy contention between producer threads.
    """

    __slots__ = ("_wake", "capacity", "dropped", "items", "limit", "wake_at", "wake_pending")

    def __init__(self, capacity: int, wake_at: int, wake: Callable[[], Any]) -> None:
        self.items: deque[Any] = deque(maxlen=capacity)
        self.capacity = capacity
        self.limit = capacity
        self.dropped = 0
        # ``len(items) >= wake_at`` is the only test on the fast path; it covers "full" too.
        self.wake_at = max(0, min(wake_at, capacity) - 1)
        self._wake = wake
        self.wake_pending = False

    def push(self, item: Any) -> None:
        items = self.items
        if len(items) >= self.wake_at:
            self.crowded()
        items.append(item)

    def crowded(self) -> None:
        """Slow path of a push: a batch is ready (wake the consumer once) or the buffer is full."""
        items = self.items
        if len(items) >= self.capacity:
            self.dropped += 1  # the deque discards its oldest item on the append that follows
        elif len(items) >= self.limit:
            try:
                while len(items) >= self.limit:  # over the byte budget: drop the oldest
                    items.popleft()
                    self.dropped += 1
            except IndexError:  # the consumer emptied it meanwhile
                pass
        if not self.wake_pending:
            self.wake_pending = True
            self._wake()

    def set_limit(self, spans: int) -> None:
        """Hold at most ``spans`` (never fewer than one batch, never more than ``capacity``)."""
        self.limit = max(self.wake_at + 1, min(self.capacity, spans))

    def drain(self, max_items: int) -> list[Any]:
        """Take up to ``max_items`` of the oldest items (consumer side)."""
        items = self.items
        pop = items.popleft
        out = []
        try:
            for _ in range(min(max_items, len(items))):
                out.append(pop())
        except IndexError:  # another consumer emptied it; not an error
            pass
        return out

    def __len__(self) -> int:
        return len(self.items)
