"""What a figure is, and the two ways the caller-cost figures are timed.

Caller costs are CPU time of the calling thread (``time.thread_time_ns``) over bursts of
operations, with a ``between`` step (a flush) after each burst that is not timed; GC stays on.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

Burst = Callable[[int], object]  # runs the operation k times


@dataclass
class Figure:
    """One README row; ``ratio`` > 1 means Axonize is better (cheaper, or faster)."""

    name: str
    unit: str
    axonize: float
    baseline: float
    baseline_name: str
    ratio: float
    target: str
    note: str = ""


def caller_ns(burst: Burst, n: int, trials: int, between: Callable[[], object]) -> float:
    """Median over trials of the caller thread's CPU ns per operation."""
    samples = []
    burst(min(n, 2000))  # warm up
    between()
    for _ in range(trials):
        t0 = time.thread_time_ns()
        burst(n)
        samples.append((time.thread_time_ns() - t0) / n)
        between()
    return statistics.median(samples)


def paired_ns(
    ax_burst: Burst, ax_between: Callable[[], object],
    ot_burst: Burst, ot_between: Callable[[], object], n: int, trials: int,
) -> tuple[float, float, float]:
    """Alternate Axonize and baseline trials so both see the same machine noise.

    Returns the medians of each side's CPU ns per operation and the median per-trial ratio
    (baseline / Axonize).
    """
    ax_burst(min(n, 2000))
    ax_between()
    ot_burst(min(n, 2000))
    ot_between()
    ax_s, ot_s = [], []
    for _ in range(trials):
        t0 = time.thread_time_ns()
        ax_burst(n)
        ax_s.append((time.thread_time_ns() - t0) / n)
        ax_between()
        t0 = time.thread_time_ns()
        ot_burst(n)
        ot_s.append((time.thread_time_ns() - t0) / n)
        ot_between()
    ratio = statistics.median(o / a for a, o in zip(ax_s, ot_s, strict=True))
    return statistics.median(ax_s), statistics.median(ot_s), ratio
