"""What carrying a span into another thread costs the thread that hands the work over
(``thread_start_overhead_us``).

Starting a thread costs tens of microseconds of kernel work whose spread between two starts is
larger than the hook's cost, so comparing two bursts (hook on, hook off) mostly measures that
spread.  Instead every start is timed on its own (CPU time of the calling thread) and paired with
the next one, made through the hooked ``Thread.start`` for one and through the original (as with
``AXONIZE_THREAD_CONTEXT=false``) for the other, which goes first alternating; the figure is the
median of the per-pair differences.  The same for ``ThreadPoolExecutor.submit`` (+ ``result()``).
A span is current throughout.

Both sides call a function held in a local, and the hook stays installed: installing and removing
it between two starts would assign ``Thread.start`` each time, which resets CPython's version
tag of the class and with it the specialised attribute accesses of the code that runs next (the
hook's), a cost of 0.2 to 0.4 us per start here that no program pays.
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


def _paired_us(on_op: Callable[[], object], off_op: Callable[[], object], pairs: int,
               after: Callable[[], None]) -> tuple[float, float, float]:
    """Median per-pair difference (``on_op`` minus ``off_op``) of the caller's CPU in µs, and
    the median cost of each side."""
    diffs: list[float] = []
    on_s: list[float] = []
    off_s: list[float] = []
    for i in range(pairs):
        pair = 0
        for on in (True, False) if i & 1 else (False, True):
            op = on_op if on else off_op
            t0 = _clock()
            op()
            took = _clock() - t0
            pair += took if on else -took
            (on_s if on else off_s).append(took)
        diffs.append(pair)
        if i % 25 == 24:
            after()
    after()
    return (statistics.median(diffs) / 1000, statistics.median(on_s) / 1000,
            statistics.median(off_s) / 1000)


def threads(sizes: Sizes) -> list[Figure]:
    import axonize
    from axonize_core import _threads

    axonize.init(exporter="none", metrics=False, gpu_profiling=False, thread_context=True)
    assert _threads.installed() and threading.Thread.start is _threads._start
    hooked_start, plain_start = _threads._start, _threads._ORIGINAL_START
    hooked_submit, plain_submit = _threads._submit, _threads._ORIGINAL_SUBMIT
    Thread = threading.Thread
    started: list[threading.Thread] = []

    def start_hooked() -> None:
        t = Thread(target=_noop)
        hooked_start(t)
        started.append(t)

    def start_plain() -> None:
        t = Thread(target=_noop)
        plain_start(t)
        started.append(t)

    def join_all() -> None:
        while started:
            started.pop().join()

    pairs = max(20, sizes.n)
    try:
        with axonize.span("request"):
            _paired_us(start_hooked, start_plain, 100, join_all)  # warm up
            extra, on, off = _paired_us(start_hooked, start_plain, pairs, join_all)
            with ThreadPoolExecutor(max_workers=1) as pool:
                def submit_hooked() -> None:
                    hooked_submit(pool, _noop).result()

                def submit_plain() -> None:
                    plain_submit(pool, _noop).result()

                _paired_us(submit_hooked, submit_plain, 100, _nothing)
                s_extra, s_on, s_off = _paired_us(submit_hooked, submit_plain, pairs, _nothing)
    finally:
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
