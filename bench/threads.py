"""What carrying a span into another thread costs the thread that hands the work over
(``thread_start_overhead_us``).

Starting a thread costs tens of microseconds of kernel work whose spread between two starts is
larger than the hook's cost, so comparing two bursts (hook on, hook off) mostly measures that
spread.  Instead every start is timed on its own (CPU time of the calling thread) and paired with
the next one, made with the hooks in place for one and with the originals (as with
``AXONIZE_THREAD_CONTEXT=false``) for the other, which goes first alternating; the figure is the
median of the per-pair differences.  The same for ``ThreadPoolExecutor.submit`` (+ ``result()``).
A span is current throughout.

The hooks replace names that the standard library looks up on each call
(``threading._start_new_thread``, ``concurrent.futures.thread._WorkItem``): the "off" side puts
the original in that name just before its call and the hook again after it, outside the timed
part, and the "on" side does the same with the hook, so both find the same things warm.
Assigning a module's existing name changes no CPython specialisation, unlike assigning a class
attribute such as ``Thread.start``.
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


def _paired_us(on_op: Callable[[], int], off_op: Callable[[], int], pairs: int,
               after: Callable[[], None]) -> tuple[float, float, float]:
    """Median per-pair difference (``on_op`` minus ``off_op``, each returning the caller's CPU
    ns of the call it times) in µs, and the median cost of each side."""
    diffs: list[float] = []
    on_s: list[float] = []
    off_s: list[float] = []
    for i in range(pairs):
        pair = 0
        for on in (True, False) if i & 1 else (False, True):
            took = on_op() if on else off_op()
            pair += took if on else -took
            (on_s if on else off_s).append(took)
        diffs.append(pair)
        if i % 25 == 24:
            after()
    after()
    return (statistics.median(diffs) / 1000, statistics.median(on_s) / 1000,
            statistics.median(off_s) / 1000)


def threads(sizes: Sizes) -> list[Figure]:
    import concurrent.futures.thread as pool_module

    import axonize
    from axonize_core import _threads

    axonize.init(exporter="none", metrics=False, gpu_profiling=False, thread_context=True)
    assert _threads.installed() and _threads.SPAWN_NAME is not None and _threads.ITEM_HOOK
    spawn_name = _threads.SPAWN_NAME
    hooked_spawn, plain_spawn = getattr(threading, spawn_name), _threads._ORIGINAL_SPAWN
    hooked_item, plain_item = pool_module._WorkItem, _threads._WORK_ITEM
    assert hooked_spawn is not plain_spawn and hooked_item is not plain_item
    Thread = threading.Thread
    started: list[threading.Thread] = []

    def start_with(spawn: object) -> int:
        # Both sides set the name just before the timed call and put the hook back after it,
        # so each finds the same things warm.
        t = Thread(target=_noop)
        setattr(threading, spawn_name, spawn)
        t0 = _clock()
        t.start()
        took = _clock() - t0
        setattr(threading, spawn_name, hooked_spawn)
        started.append(t)
        return took

    def start_hooked() -> int:
        return start_with(hooked_spawn)

    def start_plain() -> int:
        return start_with(plain_spawn)

    def join_all() -> None:
        while started:
            started.pop().join()

    pairs = max(20, sizes.n)
    try:
        with axonize.span("request"):
            _paired_us(start_hooked, start_plain, 100, join_all)  # warm up
            extra, on, off = _paired_us(start_hooked, start_plain, pairs, join_all)
            with ThreadPoolExecutor(max_workers=1) as pool:
                def submit_with(item: object) -> int:
                    pool_module._WorkItem = item  # type: ignore[attr-defined]
                    t0 = _clock()
                    pool.submit(_noop).result()
                    took = _clock() - t0
                    pool_module._WorkItem = hooked_item  # type: ignore[attr-defined]
                    return took

                def submit_hooked() -> int:
                    return submit_with(hooked_item)

                def submit_plain() -> int:
                    return submit_with(plain_item)

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
