"""What carrying a span into another thread costs the thread that hands the work over
(``thread_start_overhead_us``): CPU time of the caller starting threads (joined after the timed
burst), or submitting tasks to a pool, with a span current, hook on vs hook off in the same
process, their trials alternating.  Starting a thread costs tens of microseconds either way; the
figure is the difference per thread."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bench.measure import Figure, paired_ns
from bench.sizes import Sizes


def _noop() -> None:
    pass


def threads(sizes: Sizes) -> list[Figure]:
    import axonize
    from axonize_core import _threads

    axonize.init(exporter="none", metrics=False, gpu_profiling=False, thread_context=True)
    hooks = _threads._hooks
    n = max(20, sizes.n // 25)

    started: list[threading.Thread] = []

    def starts(on: bool):  # type: ignore[no-untyped-def]
        def burst(k: int) -> None:
            hooks.on = on
            with axonize.span("request"):
                for _ in range(k):
                    t = threading.Thread(target=_noop)
                    t.start()
                    started.append(t)
        return burst

    def join_all() -> None:
        while started:
            started.pop().join()

    def submits(pool: ThreadPoolExecutor, on: bool):  # type: ignore[no-untyped-def]
        def burst(k: int) -> None:
            hooks.on = on
            with axonize.span("request"):
                for _ in range(k):
                    pool.submit(_noop).result()
        return burst

    try:
        on_ns, off_ns, _ = paired_ns(starts(True), join_all, starts(False), join_all, n,
                                     sizes.trials)
        with ThreadPoolExecutor(max_workers=1) as pool:
            s_on, s_off, _ = paired_ns(submits(pool, True), _nothing, submits(pool, False),
                                       _nothing, n * 5, sizes.trials)
    finally:
        hooks.on = True
        axonize.shutdown(5)
    extra_us = (on_ns - off_ns) / 1000
    return [Figure(
        "thread_start_overhead_us", "us", extra_us, 0.0,
        "the same thread start with the hook off (AXONIZE_THREAD_CONTEXT=false)", float("nan"),
        "<= 2 us",
        note=f"caller CPU per Thread.start with a span current: {on_ns / 1000:.1f} us "
             f"carried, {off_ns / 1000:.1f} us not; ThreadPoolExecutor.submit + result: "
             f"{(s_on - s_off) / 1000:+.2f} us ({s_on / 1000:.1f} vs {s_off / 1000:.1f} us)")]


def _nothing() -> None:
    pass
