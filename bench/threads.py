"""What carrying a span into another thread costs the thread that hands the work over
(``thread_start_overhead_us``).

Starting a thread costs tens of microseconds of kernel work whose spread between two starts is
larger than the hook's cost, so comparing two bursts (hook on, hook off) mostly measures that
spread.  Instead every start is timed on its own (CPU time of the calling thread) and paired with
the next one, the hook installed for one and not for the other (as with
``AXONIZE_THREAD_CONTEXT=false``), which goes first alternating; the figure is the median of the
per-pair differences.  The same for ``ThreadPoolExecutor.submit`` (+ ``result()``).  A span is
current throughout.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bench.measure import Figure
from bench.sizes import Sizes

_clock = time.thread_time_ns


def _noop() -> None:
    pass


def _paired_us(op: Callable[[], object], pairs: int, hook: Callable[[bool], None],
               after: Callable[[], None]) -> tuple[float, float, float]:
    """Median per-pair difference (hook on minus off) of ``op``'s caller CPU in µs, and the
    median cost of each side."""
    diffs: list[float] = []
    on_s: list[float] = []
    off_s: list[float] = []
    for i in range(pairs):
        pair = 0
        for on in (True, False) if i & 1 else (False, True):
            hook(on)
            t0 = _clock()
            op()
            took = _clock() - t0
            pair += took if on else -took
            (on_s if on else off_s).append(took)
        diffs.append(pair)
        if i % 25 == 24:
            after()
    after()
    hook(True)
    return (statistics.median(diffs) / 1000, statistics.median(on_s) / 1000,
            statistics.median(off_s) / 1000)


def threads(sizes: Sizes) -> list[Figure]:
    import axonize
    from axonize_core import _threads

    axonize.init(exporter="none", metrics=False, gpu_profiling=False, thread_context=True)

    def hook(on: bool) -> None:
        if on:
            _threads.install()
        else:
            _threads.uninstall()

    started: list[threading.Thread] = []

    def start() -> None:
        t = threading.Thread(target=_noop)
        t.start()
        started.append(t)

    def join_all() -> None:
        while started:
            started.pop().join()

    pairs = max(20, sizes.n)
    try:
        with axonize.span("request"):
            _paired_us(start, 100, hook, join_all)  # warm up
            extra, on, off = _paired_us(start, pairs, hook, join_all)
            with ThreadPoolExecutor(max_workers=1) as pool:
                def submit() -> None:
                    pool.submit(_noop).result()

                _paired_us(submit, 100, hook, _nothing)
                s_extra, s_on, s_off = _paired_us(submit, pairs, hook, _nothing)
    finally:
        _threads.install()
        axonize.shutdown(5)
    return [Figure(
        "thread_start_overhead_us", "us", extra, 0.0,
        "the same thread start with the hook off (AXONIZE_THREAD_CONTEXT=false)", float("nan"),
        "<= 2 us",
        note=f"median of {pairs} paired starts, caller CPU with a span current: {on:.1f} us "
             f"carried, {off:.1f} us not; ThreadPoolExecutor.submit + result: {s_extra:+.2f} us "
             f"({s_on:.1f} vs {s_off:.1f} us)")]


def _nothing() -> None:
    pass
