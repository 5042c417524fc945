"""The GPU profiler on 8 simulated H100s: what ``set_gpus`` costs the caller
(``set_gpus_span_ns``), and what the sampler thread costs a core (``gpu_sampler_cpu_pct``)."""

from __future__ import annotations

import time

from bench.measure import Figure, paired_ns
from bench.setups import axonize_idle
from bench.sizes import Sizes


def gpu(sizes: Sizes) -> list[Figure]:
    import axonize

    axonize_idle(gpu_backend="simulated", gpu_simulate="8xh100")
    span = axonize.span

    def plain(k: int) -> None:
        for _ in range(k):
            with span("x"):
                pass

    def with_gpus(k: int) -> None:
        for _ in range(k):
            with span("x") as s:
                s.set_gpus("cuda:0")

    def flush() -> None:
        axonize.flush(60)

    ax, base, ratio = paired_ns(with_gpus, flush, plain, flush, sizes.n, sizes.trials)
    axonize.shutdown(10)
    pct, per_call_us = _sampler_cpu(sizes.gpu_seconds)
    return [
        Figure("set_gpus_span_ns", "ns", ax, base, "a plain Axonize span, same process",
               ratio, "<= 2x a plain span",
               note=f"span + set_gpus('cuda:0'): {ax / base:.2f}x a plain span; the GPU window "
                    "is aggregated on the exporter thread"),
        Figure("gpu_sampler_cpu_pct", "%", pct, float("nan"), "one core", float("nan"),
               "<= 0.5% of one core",
               note=f"8 simulated H100s every 100 ms for {sizes.gpu_seconds:g} s, the sampler "
                    f"thread's CPU clock ({per_call_us:.1f} us per NVML call incl. the simulated "
                    "library; real NVML calls add their driver time)"),
    ]


def _sampler_cpu(seconds: float) -> tuple[float, float]:
    """The sampler's own CPU clock over ``seconds``, reading 8 simulated GPUs every 100 ms:
    percent of one core, and microseconds per NVML call."""
    from axonize_core.gpu import GpuProfiler, NvmlBackend, SimulatedNvml

    lib = SimulatedNvml("8xh100")
    lib.nvmlInit()
    profiler = GpuProfiler(NvmlBackend(lib), 0.1).start()
    thread = profiler._thread
    assert thread is not None and thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    time.sleep(0.5)
    cpu0, t0, calls0 = time.clock_gettime(clock), time.monotonic(), lib.calls
    time.sleep(seconds)
    cpu1, t1, calls1 = time.clock_gettime(clock), time.monotonic(), lib.calls
    profiler.stop()
    pct = (cpu1 - cpu0) / (t1 - t0) * 100
    return pct, (cpu1 - cpu0) / max(1, calls1 - calls0) * 1e6
