"""On a machine with an NVIDIA GPU: what the real NVML path sees and costs.

    python bench/gpu_probe.py [seconds]

Prints the devices the NVML backend discovers, the CUDA numbering under the current
CUDA_VISIBLE_DEVICES, one sample per device, the time of each NVML call, and the CPU the
sampler thread uses at 100 ms over ``seconds`` (default 10).
"""

from __future__ import annotations

import os
import sys
import time

from axonize_core.cost import PriceTable
from axonize_core.gpu import GpuProfiler, NvmlBackend
from axonize_core.gpu._nvml import load_pynvml


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    lib = load_pynvml()
    print("driver", lib.nvmlSystemGetDriverVersion(), "NVML", lib.nvmlSystemGetNVMLVersion())
    backend = NvmlBackend(lib)
    profiler = GpuProfiler(backend, 0.1, prices=PriceTable())
    for d in profiler.devices:
        print(f"device index={d.index} name={d.name!r} uuid={d.uuid} mig={d.profile or '-'} "
              f"resource={d.compute_resource_id} memory={d.memory_total_bytes >> 20} MiB")
    print("CUDA_VISIBLE_DEVICES =", os.environ.get("CUDA_VISIBLE_DEVICES"), "->",
          [f"cuda:{i}={d.uuid}" for i, d in enumerate(profiler.visible)])
    for d in profiler.devices:
        t0 = time.perf_counter()
        sample = backend.sample(d, time.time_ns())
        print(f"sample {d.uuid}: {sample} ({(time.perf_counter() - t0) * 1e6:.0f} us)")
    calls: dict[str, float] = {}
    handle = lib.nvmlDeviceGetHandleByIndex(0)
    for name, fn in (("memory", lambda: lib.nvmlDeviceGetMemoryInfo(handle)),
                     ("utilization", lambda: lib.nvmlDeviceGetUtilizationRates(handle)),
                     ("power", lambda: lib.nvmlDeviceGetPowerUsage(handle)),
                     ("temperature", lambda: lib.nvmlDeviceGetTemperature(handle, 0)),
                     ("energy", lambda: lib.nvmlDeviceGetTotalEnergyConsumption(handle))):
        t0 = time.perf_counter()
        for _ in range(200):
            fn()  # type: ignore[no-untyped-call]
        calls[name] = (time.perf_counter() - t0) / 200 * 1e6
    print("NVML call us:", {k: round(v, 1) for k, v in calls.items()})
    profiler.start()
    _load(profiler)
    thread = profiler._thread
    assert thread is not None and thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    time.sleep(0.5)
    c0, t0 = time.clock_gettime(clock), time.monotonic()
    time.sleep(seconds)
    c1, t1 = time.clock_gettime(clock), time.monotonic()
    profiler.stop()
    print(f"gpu_sampler_cpu_pct (real NVML, {len(profiler.devices)} device(s), 100 ms): "
          f"{(c1 - c0) / (t1 - t0) * 100:.3f} %")
    return 0


def _load(profiler: GpuProfiler) -> None:
    """Idle 2 s, then 3 s of matrix multiplies on cuda:0: what a span of each gets."""
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        return
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for label, busy in (("idle", False), ("matmul", True)):
        start = time.time_ns()
        t_end = time.monotonic() + (2.0 if not busy else 3.0)
        n = 0
        while time.monotonic() < t_end:
            if busy:
                for _ in range(20):
                    a @ a
                torch.cuda.synchronize()
                n += 20
            else:
                time.sleep(0.05)
        end = time.time_ns()
        time.sleep(0.15)  # let the sampler take the sample after the end
        out: dict[str, object] = {}
        profiler.enrich(("cuda:0",), start, end, out)
        keep = ("utilization.avg_pct", "utilization.max_pct", "power.avg_w", "energy_j",
                "memory.used_bytes", "temperature_c")
        print(f"span {label} ({(end - start) / 1e9:.1f} s, {n} matmuls):",
              {k[len("gpu.0."):]: out[k] for k in out if k[len("gpu.0."):] in keep},
              {k: out[k] for k in out if k.startswith("cost.")})


if __name__ == "__main__":
    raise SystemExit(main())
