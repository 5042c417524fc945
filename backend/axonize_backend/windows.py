"""The time windows a filtered trace listing searches, newest first."""

from __future__ import annotations


def windows(since_ns: int, until_ns: int) -> list[int]:
    """Starts of ever wider windows back from ``until_ns`` (a 64th of the range, then 4 times
    wider each), the last one at ``since_ns``: a search reads ``[start, previous start)`` in
    turn and stops once it has found enough, so a page of recent rows reads recent data only."""
    span = max(until_ns - since_ns, 1)
    starts, width = [], max(span // 64, 1)
    while until_ns - width > since_ns:
        starts.append(until_ns - width)
        width *= 4
    return [*starts, since_ns]
